/**
 * Scenarios 1-3 (unary, payload, stream, bidi) for every system. Each server
 * runs in its own pinned process (with any process it starts); the client
 * (bench/client-main.ts) runs in another, the same placement for all. All
 * servers are started first and stay up, idle when not in use; then the bench
 * goes round-robin: in each round every system's client runs once (with its
 * own warm-up), so a burst of background load hits one round of every system
 * rather than all runs of one. The figure is the median over rounds.
 *
 * With a second placement (see `otherPlacement`), each system's round also
 * runs a unary-only client in that placement, right after the main one.
 */
import { join } from 'node:path';
import { startAgentix } from '../lib/agentix-server.js';
import { briefError } from '../lib/errors.js';
import { mergeRounds } from '../lib/merge.js';
import { TSX_ARGS } from '../lib/node-args.js';
import { pinPrefix, type Placement } from '../lib/placement.js';
import type { Plan } from '../lib/plan.js';
import { runToEnd, startServer, type Started } from '../lib/process.js';
import { REPO_ROOT } from '../lib/project-copy.js';
import { SYSTEMS, type Scenario, type SystemInfo, type SystemName } from '../lib/systems.js';
import type { SystemFigures } from '../report/types.js';

type Server = Started & { token?: string; via?: string };

export interface Placements { main: Placement; other?: Placement }

export async function runTransport(plan: Plan, placements: Placements, only: SystemName[] | undefined, log: (s: string) => void): Promise<SystemFigures[]> {
  const placement = placements.main;
  const other = placements.other;
  if (other && other.serverCpu !== placement.serverCpu) throw new Error('the second placement must keep the server CPU (servers are started once)');
  const systems = SYSTEMS.filter((s) => !only || only.includes(s.name));
  const servers = new Map<SystemName, Server>();
  const startErrors = new Map<SystemName, string>();
  const rounds = new Map<SystemName, Record<string, unknown>[]>();
  const otherRounds = new Map<SystemName, Record<string, unknown>[]>();
  try {
    for (const sys of systems) {
      log(`  ${sys.name}: starting server`);
      try {
        servers.set(sys.name, await start(sys, plan, placement));
      } catch (err) {
        startErrors.set(sys.name, briefError(err));
        log(`  ${sys.name}: FAILED to start: ${startErrors.get(sys.name)}`);
      }
    }
    const onePass = { ...plan, repeats: 1 };
    for (let round = 1; round <= plan.repeats; round++) {
      log(`  round ${round}/${plan.repeats}: ${[...servers.keys()].join(', ')}`);
      for (const sys of systems) {
        const server = servers.get(sys.name);
        if (!server) continue;
        const r = await runClient(sys, server, onePass, placement, sys.scenarios);
        if (typeof r.error === 'string') log(`  ${sys.name}: FAILED: ${r.error}`);
        rounds.set(sys.name, [...(rounds.get(sys.name) ?? []), r]);
        if (other) {
          const o = await runClient(sys, server, onePass, other, ['unary']);
          if (typeof o.error === 'string') log(`  ${sys.name} (${other.name}): FAILED: ${o.error}`);
          otherRounds.set(sys.name, [...(otherRounds.get(sys.name) ?? []), o]);
        }
      }
    }
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()));
  }
  return systems.map((sys) => {
    const base: SystemFigures = { name: sys.name, label: sys.label };
    const via = servers.get(sys.name)?.via;
    if (via) base.via = via;
    const err = startErrors.get(sys.name);
    if (err) return { ...base, error: err };
    const figures = { ...base, ...mergeRounds(rounds.get(sys.name) ?? []) } as SystemFigures;
    if (other) figures.otherPlacement = { placement: other.name, ...mergeRounds(otherRounds.get(sys.name) ?? []) };
    return figures;
  });
}

async function start(sys: SystemInfo, plan: Plan, placement: Placement): Promise<Server> {
  if (sys.name === 'agentix') return startAgentix(placement.serverCpu, plan.startTimeoutMs);
  return startServer([...pinPrefix(placement.serverCpu), process.execPath, ...TSX_ARGS, join(REPO_ROOT, 'bench/servers', sys.serverScript!)], {
    cwd: REPO_ROOT, timeoutMs: plan.startTimeoutMs,
  });
}

async function runClient(sys: SystemInfo, server: Server, plan: Plan, placement: Placement, scenarios: Scenario[]): Promise<Record<string, unknown>> {
  const budgetMs = 180_000;
  const r = await runToEnd([...pinPrefix(placement.clientCpu), process.execPath, ...TSX_ARGS, join(REPO_ROOT, 'bench/client-main.ts'),
    sys.name, server.url, server.token ?? '', JSON.stringify(plan), scenarios.join(','), String(server.child.pid ?? '')], { cwd: REPO_ROOT, timeoutMs: budgetMs });
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH-RESULT '));
  if (!line) {
    const why = r.timedOut ? `timed out after ${budgetMs} ms` : `exited ${r.code}`;
    return { error: `client ${why} without a result: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` };
  }
  return JSON.parse(line.slice('BENCH-RESULT '.length)) as Record<string, unknown>;
}
