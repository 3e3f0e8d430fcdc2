/**
 * The process groups a process started must not outlive it, even when it is
 * SIGKILLed (the server kills a worker that hangs past its deadline; nothing
 * in the worker runs then). So each process that starts groups also starts
 * one small bash, the watchdog, in a process group of its own: it is told
 * every group as it starts ("+pgid") and ends ("-pgid") over a pipe, and
 * when that pipe reaches end-of-file — the kernel closes it however the
 * owner died — it SIGKILLs every group still on its list and exits.
 *
 * One watchdog per owner (not one per command) means no extra process in a
 * command's own tree: the command's `$PPID`, `wait` and exit status are
 * what they would be without it, and a container whose PID 1 never reaps
 * orphans does not collect a zombie per call.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

const SCRIPT = [
  'declare -A groups',
  'while IFS= read -r line; do',
  '  case $line in',
  '    +*) groups[${line:1}]=1 ;;',
  '    -*) unset "groups[${line:1}]" ;;',
  '  esac',
  'done',
  'for pgid in "${!groups[@]}"; do kill -KILL -- "-$pgid" 2>/dev/null; done',
].join('\n');

let watchdog: { child: ChildProcess; stdin: Writable } | undefined;

function running(w: typeof watchdog): w is NonNullable<typeof watchdog> {
  return w !== undefined && w.child.exitCode === null && w.child.signalCode === null && !w.stdin.destroyed;
}

/**
 * Starts this process's watchdog unless it runs (again, if somebody killed
 * it: then it learns the groups in `live`). Called before each group starts.
 */
export function startWatchdog(bash: string, live: Iterable<number>): void {
  if (running(watchdog)) return;
  let child: ChildProcess;
  try {
    child = spawn(bash, ['--noprofile', '--norc', '-c', SCRIPT], {
      // Its own group: a kill of a command's group, or a signal to ours, must not reach it.
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
    });
  } catch {
    return;
  }
  const stdin = child.stdin!;
  stdin.on('error', () => undefined); // EPIPE if it died: noticed at the next start
  child.on('error', () => undefined);
  // Neither may keep the owner's event loop alive.
  child.unref();
  (stdin as unknown as { unref?: () => void }).unref?.();
  watchdog = { child, stdin };
  for (const pgid of live) tell(`+${pgid}`);
}

/**
 * A line to the watchdog, into the pipe at once (not queued behind the
 * event loop): the owner may be killed right after.
 */
function tell(line: string): void {
  if (!running(watchdog)) return;
  const fd = (watchdog.stdin as unknown as { _handle?: { fd?: number } })._handle?.fd;
  // Lines still queued in the stream go first: the order of "+" and "-" matters.
  if (typeof fd === 'number' && fd >= 0 && watchdog.stdin.writableLength === 0) {
    try {
      writeSync(fd, `${line}\n`);
      return;
    } catch {
      // EAGAIN (a full pipe: the watchdog is behind) or gone: fall back to the stream
    }
  }
  watchdog.stdin.write(`${line}\n`);
}

/** Puts a group on the watchdog's list. */
export function watch(pgid: number): void {
  tell(`+${pgid}`);
}

/** Takes a group off the list (it was killed, or it is over). */
export function unwatch(pgid: number): void {
  tell(`-${pgid}`);
}
