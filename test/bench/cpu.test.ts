/**
 * bench/lib/cpu.ts: the server-side CPU figure counts the whole process
 * tree (Agentix's worker, the naive hop's child), not only the server process.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { treeCpuUs } from '../../bench/lib/cpu.js';

/** The child burns this much CPU (by its own process.cpuUsage) and then idles until killed. */
const CHILD_CPU_MS = 300;

const PARENT = `
const { spawn } = require('node:child_process');
const child = spawn(process.execPath, ['-e', \`
  const busy = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  while (busy() < ${CHILD_CPU_MS}) {}
  console.log('burnt');
  setInterval(() => {}, 1000);
\`], { stdio: ['ignore', 'pipe', 'inherit'] });
child.stdout.on('data', (d) => { if (String(d).includes('burnt')) console.log('child ' + child.pid); });
process.on('SIGTERM', () => { child.kill('SIGKILL'); process.exit(0); });
setInterval(() => {}, 1000);
`;

/** utime + stime of one process alone, in µs (100 ticks per second, as on every Linux this runs on). */
function ownTicksUs(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) / 100) * 1e6;
}

test('the CPU of a server process tree includes what its children spent', async () => {
  const parent = spawn(process.execPath, ['-e', PARENT], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const childPid = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the child did not report within 30 s')), 30_000);
      parent.stdout!.on('data', (d: Buffer) => {
        const m = /child (\d+)/.exec(String(d));
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      parent.once('exit', (code) => { clearTimeout(timer); reject(new Error(`parent exited ${code}`)); });
    });
    const tree = treeCpuUs(parent.pid!);
    assert.type(tree, 'number');
    const parentAlone = ownTicksUs(parent.pid!);
    // One clock tick (10 ms) of rounding per process either way.
    assert.ok(tree! - parentAlone >= (CHILD_CPU_MS - 20) * 1000, `tree ${tree} µs, parent alone ${parentAlone} µs, child burnt ${CHILD_CPU_MS} ms`);
    assert.ok(ownTicksUs(childPid) >= (CHILD_CPU_MS - 20) * 1000, 'the child is what spent it');
  } finally {
    parent.kill('SIGTERM');
    await new Promise((r) => { if (parent.exitCode !== null) r(undefined); else parent.once('exit', r); });
  }
});

test('a process that is gone has no CPU figure rather than a zero', () => {
  assert.is(treeCpuUs(2 ** 22 + 7), undefined);
});

test.run();
