/**
 * The worker's side of background commands: finds the sandbox's keeper
 * (keeper.ts) through the state directory, starts it on the first
 * bash.spawn, and sends it requests.
 *
 * The state directory is `$AGENTIX_STATE_DIR` (default: the temp dir) /
 * `agentix-bash-<server pid>-<server start time>`: named after the runtime
 * server, the worker's parent, so every worker the server starts finds the
 * same keeper, and a new server (a pid reused) never finds an old one.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KEEPER_ENTRY, KEEPER_FLAG, stateDirName } from './keeper.js';
import { abortError, codeError, sleep } from './process.js';
import { processStartTime } from './proc.js';
import { LOG_NAME, LineReader, SOCKET_NAME, encodeLine, type KeeperReply, type KeeperRequest } from './wire.js';

/** How long a new keeper may take to answer on its socket. */
const KEEPER_START_MS = 15_000;
/** A Unix socket path longer than this does not fit in sockaddr_un. */
const MAX_SOCKET_PATH = 107;

interface Place {
  dir: string;
  socket: string;
  serverPid: number;
  serverStart: string;
}

function place(): Place {
  const serverPid = process.ppid;
  const serverStart = processStartTime(serverPid) ?? '0';
  const dir = join(resolve(process.env.AGENTIX_STATE_DIR || tmpdir()), stateDirName(serverPid, serverStart));
  const socket = join(dir, SOCKET_NAME);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw codeError('ENAMETOOLONG', `the keeper's socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes; set AGENTIX_STATE_DIR to a shorter directory`);
  }
  return { dir, socket, serverPid, serverStart };
}

/** One connection to the keeper, requests matched to replies by sequence number. */
class KeeperConnection {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  closed = false;

  constructor(private readonly socket: Socket) {
    const reader = new LineReader((m) => this.onReply(m as KeeperReply));
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      const gone = codeError('EKEEPER', 'the keeper of background commands went away (the sandbox is shutting down, or it was killed)');
      for (const p of this.pending.values()) p.reject(gone);
      this.pending.clear();
    });
    // An idle connection must not keep the worker alive.
    socket.unref();
  }

  request<T>(req: KeeperRequest, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const seq = ++this.seq;
    return new Promise<T>((resolvePromise, reject) => {
      const onAbort = () => settle(() => reject(abortError(signal!)));
      const settle = (f: () => void) => {
        if (!this.pending.delete(seq)) return;
        signal?.removeEventListener('abort', onAbort);
        if (this.pending.size === 0) this.socket.unref();
        f();
      };
      this.pending.set(seq, {
        resolve: (v) => settle(() => resolvePromise(v as T)),
        reject: (e) => settle(() => reject(e)),
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.socket.ref();
      this.socket.write(encodeLine({ seq, ...req }));
    });
  }

  private onReply(reply: KeeperReply): void {
    const p = this.pending.get(reply.seq);
    if (!p) return; // its caller gave up (cancelled)
    if (reply.error) p.reject(codeError(reply.error.code, reply.error.message));
    else p.resolve(reply.result);
  }
}

let current: KeeperConnection | undefined;
let starting: Promise<KeeperConnection> | undefined;

function tryConnect(path: string): Promise<KeeperConnection | undefined> {
  return new Promise((r) => {
    const s = connect(path);
    s.once('connect', () => {
      s.removeAllListeners('error');
      r(new KeeperConnection(s));
    });
    s.once('error', () => r(undefined));
  });
}

/**
 * The connection to the keeper. Without `start`, undefined when there is
 * no keeper (then there are no background commands either).
 */
export async function keeper(opts: { start: boolean }): Promise<KeeperConnection | undefined> {
  if (current && !current.closed) return current;
  if (starting) return starting;
  const p = place();
  if (!existsSync(p.dir) && !opts.start) return undefined;
  if (existsSync(p.dir)) checkOwnDir(p.dir);
  const found = await tryConnect(p.socket);
  if (found) return (current = found);
  if (!opts.start) return undefined;
  starting = startKeeper(p).finally(() => (starting = undefined));
  return (current = await starting);
}

async function startKeeper(p: Place): Promise<KeeperConnection> {
  try {
    mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw codeError('EKEEPER', `cannot create the state directory ${p.dir}: ${(err as Error).message} (set AGENTIX_STATE_DIR to a writable directory)`);
  }
  checkOwnDir(p.dir);
  const logFile = join(p.dir, LOG_NAME);
  const log = openSync(logFile, 'a');
  let exit: string | undefined;
  try {
    const child = spawn(process.execPath, [...loaderArgs(KEEPER_ENTRY), KEEPER_ENTRY, KEEPER_FLAG, p.dir, String(p.serverPid), p.serverStart], {
      // Its own session: no signal meant for the worker's group reaches it.
      detached: true,
      stdio: ['ignore', log, log],
      cwd: '/',
    });
    child.once('error', (err) => (exit = err.message));
    child.once('exit', (code, signal) => (exit ??= `exited with ${signal ?? code}`));
    child.unref();
  } finally {
    closeSync(log);
  }
  const deadline = Date.now() + KEEPER_START_MS;
  for (;;) {
    const conn = await tryConnect(p.socket);
    if (conn) return conn;
    // An exit is fine if another keeper answers meanwhile (two workers raced); else it is the error.
    if (exit !== undefined || Date.now() > deadline) {
      const tail = readTail(logFile);
      throw codeError('EKEEPER', `the keeper of background commands did not start (${exit ?? `no answer within ${KEEPER_START_MS} ms`})${tail ? `:\n${tail}` : ''}`);
    }
    await sleep(20);
  }
}

/**
 * The state directory must be ours alone: somebody else's (made first, in a
 * temp dir other users share) could hold a socket that pretends to be the
 * keeper.
 */
function checkOwnDir(dir: string): void {
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw codeError('EKEEPER', `the state directory ${dir} is not a private directory of this user (mode ${(st.mode & 0o7777).toString(8)}, owner ${st.uid}); remove it, or set AGENTIX_STATE_DIR elsewhere`);
  }
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

/**
 * Node flags the keeper needs to run `entry`: none for the compiled module
 * of a bundle; run from TypeScript source (tests, a linked checkout), the
 * loader this process was started with (`--import tsx`), made absolute
 * because the keeper runs in `/`.
 */
function loaderArgs(entry: string): string[] {
  if (!/\.[cm]?ts$/.test(entry)) return [];
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if ((a === '--import' || a === '--loader' || a === '--experimental-loader') && next !== undefined) {
      out.push(a, /^file:/.test(next) ? next : /^[./]/.test(next) ? resolve(next) : import.meta.resolve(next));
      i++;
    }
  }
  return out;
}
