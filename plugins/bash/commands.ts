/**
 * One background command as the keeper (keeper.ts) owns it: bash in its own
 * process group, both pipes read all the time into a bounded ring (so the
 * command never blocks on its output, however slow its readers), a
 * timeout, and the exit status once bash has ended and its group is gone.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { ExitStatus, OutputResult, SpawnInfo } from './index.js';
import { decodeInto, pipesClosed } from './output.js';
import { GroupStopper, codeError, exited, signalGroup, startGroup, type LaunchSpec } from './process.js';
import { OutputRing } from './ring.js';

export interface StartOptions {
  timeoutMs?: number;
  bufferBytes: number;
}

export class BackgroundCommand {
  readonly startedAt = Date.now();
  private readonly ring: OutputRing;
  private status: ExitStatus | undefined;
  /** When the status was set (the keeper forgets the oldest finished commands first). */
  finishedAt = 0;
  /** Resolves once the command has ended, its group is gone and its pipes are drained. */
  readonly done: Promise<void>;
  private waiters = new Set<() => void>();
  private readonly stopper: GroupStopper;

  private constructor(readonly id: string, readonly command: string, private readonly child: ChildProcess, opts: StartOptions) {
    this.ring = new OutputRing(opts.bufferBytes);
    const stdout = child.stdout as Readable;
    const stderr = child.stderr as Readable;
    decodeInto(stdout, (text) => this.append('stdout', text));
    decodeInto(stderr, (text) => this.append('stderr', text));
    const stop = new GroupStopper(child.pid!, opts.timeoutMs);
    this.stopper = stop;
    const started = performance.now();
    this.done = (async () => {
      const status = await exited(child);
      // Whatever bash left running in its group goes with it (nothing outlives the command
      // unnoticed, and its group id is never signalled after it could have been reused).
      await stop.finish();
      await pipesClosed(child, [stdout, stderr]);
      stop.dispose();
      this.status = {
        exitCode: status.code,
        ...(status.signal ? { signal: status.signal } : {}),
        timedOut: stop.timedOut,
        durationMs: Math.round(performance.now() - started),
      };
      this.finishedAt = Date.now();
      this.wake();
    })();
  }

  static async start(id: string, command: string, spec: LaunchSpec, opts: StartOptions): Promise<BackgroundCommand> {
    const child = await startGroup(spec, ['-c', command]);
    return new BackgroundCommand(id, command, child, opts);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.status === undefined;
  }

  info(): SpawnInfo {
    const info: SpawnInfo = { id: this.id, command: this.command, pid: this.pid, startedAt: this.startedAt, running: this.running, bytes: this.ring.total, dropped: this.ring.dropped };
    if (this.status) info.exited = this.status;
    return info;
  }

  /** Output from `since` on; with `waitMs`, waits that long for something new (output or the end). */
  async read(since: number, maxBytes: number, waitMs: number): Promise<OutputResult> {
    if (since > this.ring.total) {
      throw codeError('EINVAL', `opts.since ${since} is past the end of the output of "${this.id}" (${this.ring.total} bytes so far)`);
    }
    if (waitMs > 0 && since === this.ring.total && this.running) await this.changed(waitMs);
    const r: OutputResult = this.ring.read(since, maxBytes);
    if (this.status && r.next === this.ring.total) r.exited = this.status;
    return r;
  }

  /** Sends one signal to the whole group (a running command only). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) signalGroup(this.pid, signal);
  }

  /** SIGTERM, then SIGKILL after the grace, to the whole group; resolves once the command is over. */
  async kill(): Promise<void> {
    if (!this.running) return;
    await this.stopper.kill();
    await this.done;
  }

  private append(stream: 'stdout' | 'stderr', text: string): void {
    this.ring.push(stream, text);
    if (text) this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = new Set();
    for (const f of w) f();
  }

  private changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}
