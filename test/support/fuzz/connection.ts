/**
 * One fuzzing client: a raw WebSocket that sends what its FrameGenerator
 * makes, reads everything the server sends, and checks the protocol's
 * promises for the calls it tracks (docs/protocol.md, "Life of a call"):
 *   - exactly one final (RESULT, END or ERROR) per CALL, of the target's shape,
 *     and nothing for that id after it;
 *   - no more stream ITEMs than the credit it granted;
 *   - when it ends a life by itself, every call still open ends once it is
 *     cancelled (no call is lost);
 *   - every server message decodes and has a known type.
 * The server closing the connection (1002 after too many protocol errors,
 * 1009 for a huge frame) is expected: it reconnects and starts a new life.
 * A life with a violation is written to `dumpDir` frame by frame, to replay.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { decode } from '../../../runtime/wire/codec.js';
import { FrameGenerator, type TrackedCall } from './frames.js';
import type { Rng } from './rng.js';
import type { FuzzTargets } from './targets.js';

export interface Violation {
  kind: string;
  detail: string;
  connection: string;
  lifetime: number;
  /** The CALL the violation is about, hex. */
  call?: string;
  /** Where the life's frames were written. */
  dump?: string;
}

export interface ConnectionStats {
  frames: number;
  bytes: number;
  byKind: Record<string, number>;
  received: number;
  receivedByType: Record<string, number>;
  lifetimes: number;
  /** How lives ended: `self` (we closed), or the server's close code. */
  closes: Record<string, number>;
  tracked: number;
  trackedFinals: number;
  /** Lives ended by us in which every open call was cancelled and checked for its final. */
  checkedLifetimes: number;
  violations: Violation[];
}

export interface ConnectionOptions {
  url: string;
  token: string;
  rng: Rng;
  label: string;
  targets: FuzzTargets;
  maxPayload: number;
  /** Frames to send over all lives. */
  frames: number;
  dumpDir?: string;
  /** Bytes the socket may hold unsent before we wait (default 512 KiB). */
  maxBuffered?: number;
  /** Frame kinds the generator leaves out. */
  exclude?: readonly string[];
  /** Checked between bursts: stop early (the run's time limit). */
  stop?: () => boolean;
}

const FINAL = new Set([16, 17, 19]);
const SERVER_TYPES = new Set([16, 17, 18, 19, 20, 21, 22]);
const FINAL_WAIT_MS = 10_000;
const STALL_MS = 30_000;
const MAX_VIOLATIONS = 50;

interface Watch {
  call: TrackedCall;
  ended: boolean;
  items: number;
}

export async function runConnection(opts: ConnectionOptions): Promise<ConnectionStats> {
  const stats: ConnectionStats = { frames: 0, bytes: 0, byKind: {}, received: 0, receivedByType: {}, lifetimes: 0, closes: {}, tracked: 0, trackedFinals: 0, checkedLifetimes: 0, violations: [] };
  const gen = new FrameGenerator(opts.rng, { targets: opts.targets, maxPayload: opts.maxPayload, exclude: opts.exclude });
  const maxBuffered = opts.maxBuffered ?? 512 * 1024;
  while (stats.frames < opts.frames && !opts.stop?.()) {
    const life = stats.lifetimes++;
    const profile = gen.newLifetime();
    const budget = profile === 'calm' ? opts.rng.int(200, 1500) : profile === 'mixed' ? opts.rng.int(100, 1000) : opts.rng.int(50, 500);
    const ws = await connect(opts.url, opts.token);
    const watches = new Map<number, Watch>();
    const sentThisLife: { kind: string; data: Buffer | string }[] = [];
    const lifeViolations: Violation[] = [];
    let closedCode: number | undefined;
    let selfClosed = false;
    const closed = new Promise<void>((resolve) => ws.once('close', (code) => ((closedCode = code), resolve())));
    const violate = (kind: string, detail: string, call?: TrackedCall) => {
      if (stats.violations.length + lifeViolations.length >= MAX_VIOLATIONS) return;
      lifeViolations.push({ kind, detail, connection: opts.label, lifetime: life, call: call?.frame.toString('hex') });
    };
    ws.on('message', (data: Buffer) => {
      stats.received++;
      let msg: unknown;
      try {
        msg = decode(data);
      } catch (err) {
        return violate('undecodable', `server sent ${data.length} bytes the codec cannot decode: ${(err as Error).message}`);
      }
      if (!Array.isArray(msg) || msg.length < 2) return violate('undecodable', `server sent a non-message ${String(msg).slice(0, 80)}`);
      const type = Number(msg[0]);
      stats.receivedByType[type] = (stats.receivedByType[type] ?? 0) + 1;
      if (!SERVER_TYPES.has(type)) return violate('unknown-type', `server sent message type ${type}`);
      const id = Number(msg[1]);
      const w = watches.get(id);
      if (!w) return;
      if (w.ended) {
        if (!w.call.loose) violate(FINAL.has(type) ? 'duplicate-final' : 'after-final', `message type ${type} for call ${id} (${w.call.target}) after its final`, w.call);
        return;
      }
      const shape = w.call.shape;
      const streaming = shape === 'stream' || shape === 'bidi';
      if (type === 18) {
        if (!streaming) violate('wrong-shape', `ITEM for ${shape} call ${id} (${w.call.target})`, w.call);
        else if (++w.items > w.call.credit) violate('credit-exceeded', `ITEM ${w.items} for call ${id} (${w.call.target}) beyond the ${w.call.credit} items of credit granted`, w.call);
      } else if (type === 20 && shape !== 'bidi') violate('wrong-shape', `INBOX_CREDIT for ${shape} call ${id} (${w.call.target})`, w.call);
      else if (FINAL.has(type)) {
        if ((type === 16 && shape !== 'unary') || (type === 19 && !streaming)) violate('wrong-shape', `final type ${type} for ${shape} call ${id} (${w.call.target})`, w.call);
        if (type === 17 && w.call.expect) {
          const code = (msg[2] as { code?: unknown } | undefined)?.code;
          // A worker that died (another frame's doing, counted as a restart) excuses the code.
          if (code !== w.call.expect && code !== 'WORKER_EXITED' && code !== 'UNAVAILABLE' && !(code === 'CANCELLED' && w.call.cancelled)) violate('wrong-code', `call ${id} (${w.call.target.slice(0, 40)}) ended with ${String(code)}, docs/protocol.md says ${w.call.expect}: ${String((msg[2] as { message?: unknown }).message).slice(0, 160)}`, w.call);
        }
        w.ended = true;
        stats.trackedFinals++;
      }
    });

    // Send this life's frames in bursts, keeping what the socket holds bounded.
    let sentInLife = 0;
    while (sentInLife < budget && stats.frames < opts.frames && closedCode === undefined && !opts.stop?.()) {
      for (let burst = opts.rng.int(1, 48); burst > 0 && sentInLife < budget; burst--) {
        for (const f of gen.next()) {
          if (ws.readyState !== WebSocket.OPEN) break;
          const text = typeof f.data === 'string';
          ws.send(f.data, { binary: !text });
          stats.frames++;
          sentInLife++;
          stats.bytes += text ? Buffer.byteLength(f.data as string) : (f.data as Buffer).length;
          stats.byKind[f.kind] = (stats.byKind[f.kind] ?? 0) + 1;
          sentThisLife.push({ kind: f.kind, data: f.data });
          if (f.opens) {
            watches.set(f.opens.id, { call: f.opens, ended: false, items: 0 });
            stats.tracked++;
          }
        }
      }
      const since = Date.now();
      while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount > maxBuffered) {
        if (Date.now() - since > STALL_MS) {
          violate('stalled', `the server read nothing of ${ws.bufferedAmount} bytes for ${STALL_MS} ms`);
          break;
        }
        await sleep(2);
      }
      await new Promise((r) => setImmediate(r));
    }

    if (closedCode === undefined && ws.readyState === WebSocket.OPEN) {
      // Ending the life ourselves: cancel what is open, and every call must end.
      for (const w of watches.values()) {
        if (w.ended) continue;
        w.call.cancelled = true;
        ws.send(Buffer.from([0x92, 0x02, 0xce, ...u32(w.call.id)]));
      }
      const until = Date.now() + FINAL_WAIT_MS;
      while (closedCode === undefined && Date.now() < until && [...watches.values()].some((w) => !w.ended)) await sleep(10);
      if (closedCode === undefined) {
        stats.checkedLifetimes++;
        for (const w of watches.values()) if (!w.ended) violate('missing-final', `call ${w.call.id} (${w.call.target}) got no final within ${FINAL_WAIT_MS} ms of its CANCEL`, w.call);
        selfClosed = true;
        ws.close(1000);
      }
    }
    const t = setTimeout(() => ws.terminate(), 2000);
    await closed;
    clearTimeout(t);
    const how = selfClosed ? 'self' : String(closedCode);
    stats.closes[how] = (stats.closes[how] ?? 0) + 1;
    if (lifeViolations.length > 0 && opts.dumpDir) {
      mkdirSync(opts.dumpDir, { recursive: true });
      const file = join(opts.dumpDir, `${opts.label}-life${life}.jsonl`);
      writeFileSync(file, sentThisLife.map((f) => JSON.stringify(typeof f.data === 'string' ? { kind: f.kind, text: f.data } : { kind: f.kind, hex: f.data.toString('hex') })).join('\n') + '\n');
      for (const v of lifeViolations) v.dump = file;
    }
    stats.violations.push(...lifeViolations);
  }
  return stats;
}

async function connect(url: string, token: string): Promise<WebSocket> {
  for (let attempt = 0; ; attempt++) {
    const ws = new WebSocket(url, { perMessageDeflate: false, headers: { authorization: `Bearer ${token}` }, handshakeTimeout: 10_000 });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      });
      ws.on('error', () => undefined);
      return ws;
    } catch (err) {
      ws.terminate();
      if (attempt >= 20) throw new Error(`cannot connect to ${url} after ${attempt + 1} attempts: ${(err as Error).message}`);
      await sleep(50 * (attempt + 1));
    }
  }
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
