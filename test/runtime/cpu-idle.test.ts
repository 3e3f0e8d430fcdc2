/**
 * The worker's "are the CPUs idle?" check (runtime/worker/cpu-idle.ts), which
 * holds the plugins' warm-up back while other tasks wait for a CPU. Driven by
 * a real file in the format of /proc/pressure/cpu whose stall counter a timer
 * advances as a busy machine's would.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpuIdle } from '../../runtime/worker/cpu-idle.js';

const idle = suite('waiting for idle CPUs before deferred work');

const pressure = (someTotal: number) => `some avg10=0.00 avg60=0.00 avg300=0.00 total=${someTotal}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n`;

/** A pressure file whose "some" counter grows by 2× wall time while `busy` (every task waited), and stands still after `stop()`. */
function stalledMachine(dir: string) {
  const file = join(dir, 'cpu');
  let total = 1_000_000;
  let last = performance.now();
  let stopped = false;
  // Replaced whole, never rewritten in place: a read of /proc/pressure/cpu sees one consistent text, and a
  // read of a file being rewritten could see it empty.
  const write = () => {
    writeFileSync(`${file}.next`, pressure(total));
    renameSync(`${file}.next`, file);
  };
  write();
  const timer = setInterval(() => {
    const now = performance.now();
    if (!stopped) total += Math.round((now - last) * 1000 * 2);
    last = now;
    write();
  }, 5);
  return {
    file,
    get stopped() {
      return stopped;
    },
    stop: () => (stopped = true),
    close: () => clearInterval(timer),
  };
}

let dir: string;
idle.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentix-cpu-idle-'));
});
idle.after.each(() => rmSync(dir, { recursive: true, force: true }));

idle('a machine whose tasks never wait for a CPU is idle after one window', async () => {
  const file = join(dir, 'cpu');
  writeFileSync(file, pressure(42));
  assert.is(await cpuIdle({ pressureFile: file, windowMs: 20, maxWaitMs: 5_000 }), 'idle');
});

idle('while tasks wait for a CPU the work waits, and goes ahead once they stop waiting', async () => {
  const machine = stalledMachine(dir);
  try {
    setTimeout(() => machine.stop(), 300);
    const outcome = await cpuIdle({ pressureFile: machine.file, windowMs: 20, maxWaitMs: 20_000 });
    assert.is(outcome, 'idle');
    assert.ok(machine.stopped, 'it called a machine idle while its tasks were still waiting for a CPU');
  } finally {
    machine.close();
  }
});

idle('a machine that stays busy holds the work back only until maxWaitMs', async () => {
  const machine = stalledMachine(dir);
  try {
    assert.is(await cpuIdle({ pressureFile: machine.file, windowMs: 20, maxWaitMs: 200 }), 'still busy');
  } finally {
    machine.close();
  }
});

idle('without pressure information (no file, or no "some" line) the answer is "unknown" at once', async () => {
  assert.is(await cpuIdle({ pressureFile: join(dir, 'absent'), maxWaitMs: 60_000 }), 'unknown');
  const file = join(dir, 'cpu');
  writeFileSync(file, 'full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
  assert.is(await cpuIdle({ pressureFile: file, maxWaitMs: 60_000 }), 'unknown');
});

idle.run();
