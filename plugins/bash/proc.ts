/**
 * What the bash plugin reads from /proc: the live members of a process group
 * (zombies do not count) and a process's start time (with its pid, a
 * process's identity: a pid alone may be reused).
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/<pid>/stat after "pid (comm) ", or undefined when the process is gone. */
function statFields(pid: number | string): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Whether /proc can be read here (it cannot outside Linux, or in a sandbox without it). */
export function hasProc(): boolean {
  try {
    readdirSync('/proc/self/fd');
    return true;
  } catch {
    return false;
  }
}

/**
 * The pids of the group's members that still run, or undefined without /proc.
 * A dead child re-parented to an init that never reaps stays a zombie
 * forever, and kill(-pgid, 0) still counts it: /proc says which are zombies.
 */
export function groupMembers(pgid: number): number[] | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const out: number[] = [];
  for (const pid of pids) {
    if (pid.charCodeAt(0) < 48 || pid.charCodeAt(0) > 57) continue;
    const fields = statFields(pid);
    if (fields && Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') out.push(Number(pid));
  }
  return out;
}

/**
 * When the process started (clock ticks since boot, /proc/<pid>/stat field
 * 22), or undefined when it is gone or /proc is not there. Together with
 * the pid it names one process: after a pid is reused, the start differs.
 */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}
