/**
 * CPU time of a system's whole server side: the server process and every
 * process below it (Agentix's worker, the naive hop's child, the socket
 * hand-off's child), read from
 * `/proc/<pid>/stat` (utime + stime, plus cutime + cstime for children that
 * already exited and were reaped). Linux only; elsewhere there is no figure.
 *
 * The kernel counts this in clock ticks (`getconf CLK_TCK`, 100 on Linux
 * x86/arm: 10 ms), so a run must last a few hundred ms for a per-call figure
 * worth reading; smoke runs give rough ones.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

interface ProcStat { pid: number; ppid: number; ticks: number }

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100; // what every Linux this bench runs on reports
    }
  }
  return clockTicks;
}

/** Fields after the command name (which is in parentheses and may hold spaces): state is field 3, utime 14 … cstime 17. */
function parseStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const f = text.slice(close + 2).split(' ');
  const at = (field: number) => Number(f[field - 3]);
  return { pid, ppid: at(4), ticks: at(14) + at(15) + at(16) + at(17) };
}

function allProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = parseStat(readFileSync(`/proc/${name}/stat`, 'utf8'));
      if (s) out.push(s);
    } catch { /* exited while we looked */ }
  }
  return out;
}

/**
 * CPU µs used so far by `rootPid` and all its descendants, or undefined when
 * there is no `/proc` or the process is gone.
 */
export function treeCpuUs(rootPid: number): number | undefined {
  let procs: ProcStat[];
  try {
    procs = allProcesses();
  } catch {
    return undefined;
  }
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  if (!byPid.has(rootPid)) return undefined;
  const children = new Map<number, ProcStat[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  let ticks = 0;
  const todo = [rootPid];
  const seen = new Set<number>();
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    if (seen.has(pid)) continue;
    seen.add(pid);
    ticks += byPid.get(pid)?.ticks ?? 0;
    for (const c of children.get(pid) ?? []) todo.push(c.pid);
  }
  return (ticks / ticksPerSecond()) * 1e6;
}

/** This process's own CPU µs (user + system, all its threads). */
export function ownCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
