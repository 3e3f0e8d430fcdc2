/**
 * The keeper of background commands (bash.spawn): one small Node process
 * per sandbox, started by the first bash.spawn, that owns every spawned
 * command, so a command, its output and its exit status outlive the call,
 * the client's connection and the worker (which the server kills and starts
 * again when user code crashes or hangs). Workers reach it over a Unix
 * socket in the sandbox's state directory (wire.ts); a new worker finds it
 * there again.
 *
 * Its lifeline is the runtime server: it checks every LIFELINE_MS that the
 * server (pid and start time) still runs, and when it does not — the server
 * exited, was killed, or its host went away — it kills every command's
 * group, removes the state directory and exits. So does SIGTERM, SIGINT or
 * SIGHUP to the keeper itself. Were the keeper SIGKILLed, its watchdog
 * (watchdog.ts) still kills the groups.
 *
 * This file is also the keeper's program: the worker runs the compiled
 * module that contains it (`node <this file> --agentix-bash-keeper <dir>
 * <server pid> <server start>`), and the check at the bottom starts the
 * keeper only then.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackgroundCommand } from './commands.js';
import { codeError } from './process.js';
import { processStartTime } from './proc.js';
import { LineReader, SOCKET_NAME, encodeLine, type KeeperReply, type KeeperRequest } from './wire.js';

export const KEEPER_FLAG = '--agentix-bash-keeper';
/** The file to run as the keeper: the module this code was compiled into. */
export const KEEPER_ENTRY = fileURLToPath(import.meta.url);
/** How often the keeper checks that the runtime server still runs. */
const LIFELINE_MS = 200;
/** Finished commands kept for bash.output and bash.list; beyond, the oldest finished ones are forgotten. */
export const MAX_FINISHED = 64;
/** State directories are named `agentix-bash-<server pid>-<server start>`. */
const STATE_DIR = /^agentix-bash-(\d+)-(\d+)$/;

export function stateDirName(serverPid: number, serverStart: string): string {
  return `agentix-bash-${serverPid}-${serverStart}`;
}

/** Whether the server that a state directory belongs to still runs. */
export function serverAlive(pid: number, start: string): boolean {
  const now = processStartTime(pid);
  if (now !== undefined) return now === start;
  if (start !== '0') return false; // it had a start time (there is /proc), now there is no such process
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

class Keeper {
  private readonly commands = new Map<string, BackgroundCommand>();
  private stopping = false;
  private server: Server | undefined;
  private lifeline: NodeJS.Timeout | undefined;

  constructor(private readonly dir: string, private readonly serverPid: number, private readonly serverStart: string) {}

  async start(): Promise<void> {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void this.shutdown(`received ${sig}`));
    process.on('uncaughtException', (err) => void this.shutdown(`internal error: ${err.stack ?? err.message}`));
    process.on('unhandledRejection', (err) => void this.shutdown(`internal error: ${String(err)}`));
    this.lifeline = setInterval(() => {
      if (!serverAlive(this.serverPid, this.serverStart)) void this.shutdown(`the runtime server (pid ${this.serverPid}) is gone`);
    }, LIFELINE_MS);
    const server = createServer((socket) => this.serve(socket));
    this.server = server;
    if (!(await listenOnce(server, join(this.dir, SOCKET_NAME)))) {
      // Another keeper got there first (two workers raced): it serves, this one is not needed.
      clearInterval(this.lifeline);
      server.close();
      return;
    }
    removeStaleStateDirs(dirname(this.dir));
  }

  private serve(socket: Socket): void {
    const reader = new LineReader((message) => void this.handle(socket, message as { seq: number } & KeeperRequest));
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch {
        socket.destroy(); // not our protocol
      }
    });
    socket.on('error', () => undefined);
  }

  private async handle(socket: Socket, req: { seq: number } & KeeperRequest): Promise<void> {
    let reply: KeeperReply;
    try {
      reply = { seq: req.seq, result: await this.dispatch(req) };
    } catch (err) {
      const e = err as Error & { code?: unknown };
      reply = { seq: req.seq, error: { code: typeof e.code === 'string' ? e.code : 'EKEEPER', message: e.message } };
    }
    if (!socket.destroyed) socket.write(encodeLine(reply));
  }

  private async dispatch(req: KeeperRequest): Promise<unknown> {
    if (this.stopping) throw codeError('EKEEPER', 'the sandbox is shutting down');
    switch (req.op) {
      case 'spawn': {
        let id: string;
        do id = randomBytes(4).toString('hex');
        while (this.commands.has(id));
        const cmd = await BackgroundCommand.start(id, req.command, req.spec, { timeoutMs: req.timeoutMs, bufferBytes: req.bufferBytes });
        this.commands.set(id, cmd);
        void cmd.done.then(() => this.forgetOldest());
        return { id, pid: cmd.pid };
      }
      case 'output':
        return this.find(req.id).read(req.since, req.maxBytes, req.waitMs);
      case 'kill': {
        const cmd = this.find(req.id);
        if (req.signal) cmd.signal(req.signal as NodeJS.Signals);
        else await cmd.kill();
        return cmd.info();
      }
      case 'list':
        return [...this.commands.values()].map((c) => c.info());
      default:
        throw codeError('EINVAL', `unknown keeper request ${JSON.stringify((req as { op?: unknown }).op)}`);
    }
  }

  private find(id: string): BackgroundCommand {
    const cmd = this.commands.get(id);
    if (!cmd) throw codeError('ENOENT', `no background command "${id}" (bash.list() shows the ones there are; at most ${MAX_FINISHED} finished ones are kept)`);
    return cmd;
  }

  private forgetOldest(): void {
    const finished = [...this.commands.values()].filter((c) => !c.running).sort((a, b) => a.finishedAt - b.finishedAt);
    for (const c of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED))) this.commands.delete(c.id);
  }

  private async shutdown(why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    process.stderr.write(`agentix keeper: stopping: ${why}\n`);
    clearInterval(this.lifeline);
    this.server?.close();
    await Promise.all([...this.commands.values()].map((c) => c.kill().catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
    process.exit(0);
  }
}

/**
 * Listens on the socket path unless a live keeper already does; a socket
 * file nobody answers on (a keeper that was killed) is replaced. Resolves
 * whether this process now listens.
 */
async function listenOnce(server: Server, path: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const err = await new Promise<NodeJS.ErrnoException | undefined>((r) => {
      server.once('error', r);
      server.listen(path, () => {
        server.off('error', r);
        r(undefined);
      });
    });
    if (!err) return true;
    if (err.code !== 'EADDRINUSE') throw err;
    if (await answers(path)) return false;
    rmSync(path, { force: true });
  }
  throw new Error(`cannot listen on ${path}`);
}

function answers(path: string): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

/** State directories of servers that no longer run (their keeper was killed before it could clean up). */
function removeStaleStateDirs(base: string): void {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return;
  }
  for (const name of names) {
    const m = STATE_DIR.exec(name);
    if (!m || serverAlive(Number(m[1]), m[2]!)) continue;
    const dir = join(base, name);
    try {
      if (statSync(dir).uid !== process.getuid?.()) continue; // somebody else's
    } catch {
      continue;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const [, script, flag, dir, serverPid, serverStart] = process.argv;
if (flag === KEEPER_FLAG && script !== undefined && resolve(script) === KEEPER_ENTRY && dir && serverPid && serverStart && STATE_DIR.test(basename(dir))) {
  new Keeper(resolve(dir), Number(serverPid), serverStart).start().catch((err: Error) => {
    process.stderr.write(`agentix keeper: cannot start: ${err.message}\n`);
    process.exit(1);
  });
}
