/**
 * The client process of one system's run (started pinned by bench/run.ts):
 * connects, runs the requested scenarios and prints one line
 * `BENCH-RESULT <json>`. A scenario that fails is reported with its error; the
 * others still run.
 *
 *   node --import tsx bench/client-main.ts <system> <url> <token> <plan-json> <scenarios,comma,separated> [server-pid]
 *
 * With a server pid, the 64-in-flight figure also carries the CPU per call of
 * that process and everything under it (bench/lib/cpu.ts).
 */
import type { Plan } from './lib/plan.js';
import { clientFactory, type Scenario, type SystemName } from './lib/systems.js';
import { bidiEcho, payload, stream, unarySequential, unaryThroughput, withTimeout } from './lib/measure.js';
import { briefError } from './lib/errors.js';
import { treeCpuUs } from './lib/cpu.js';

const [system, url, token, planJson, scenarioList, serverPidArg] = process.argv.slice(2);
const serverPid = serverPidArg ? Number(serverPidArg) : undefined;
const serverCpu = serverPid ? () => treeCpuUs(serverPid) : undefined;
const plan = JSON.parse(planJson) as Plan;
const scenarios = scenarioList.split(',') as Scenario[];

/** Far above what a healthy scenario takes in any mode; a stuck one ends here and the next one runs. */
const SCENARIO_TIMEOUT_MS = 60_000 + plan.repeats * 20_000;
const result: Record<string, unknown> = {};

try {
  const connect = await clientFactory(system as SystemName);
  const client = await withTimeout(connect(url, { token }), 15_000, 'connect');
  try {
    for (const s of scenarios) {
      try {
        const bounded = <T>(p: Promise<T>) => withTimeout(p, SCENARIO_TIMEOUT_MS, s);
        if (s === 'unary') {
          const latency = await bounded(unarySequential(client, plan));
          const inflight = await bounded(unaryThroughput(client, plan, serverCpu)).catch((err) => ({ error: briefError(err) }));
          result.unary = { ...latency, inflight: { calls: plan.inflight, ...inflight } };
        }
        if (s === 'payload') result.payload = await bounded(payload(client, plan));
        if (s === 'stream') result.stream = await bounded(stream(client, plan));
        if (s === 'bidi') result.bidi = await bounded(bidiEcho(client, plan));
      } catch (err) {
        result[s] = { error: briefError(err) };
      }
    }
  } finally {
    await withTimeout(client.close(), 5000, 'close').catch(() => {});
  }
} catch (err) {
  result.error = briefError(err);
}
process.stdout.write(`BENCH-RESULT ${JSON.stringify(result)}\n`);
// Some peers keep timers alive after close; the figures are out, so leave now.
process.exit(0);
