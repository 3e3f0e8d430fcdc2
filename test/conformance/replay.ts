/**
 * Replays one conformance transcript against a running server: opens the
 * transcript's WebSockets (the `ws` package, nothing of runtime/client), sends
 * its frames byte for byte, and matches what comes back with the rules of
 * docs/conformance/README.md. Throws an Error naming the step and the frame
 * when the server's answer does not match.
 */
import { request } from 'node:http';
import WebSocket from 'ws';
import { decodeWire, shortestInt, type Wire } from './msgpack.js';
import { match, render } from './notation.js';
import { SETTLE_MS, type HttpExpect, type Step, type Transcript } from './transcript.js';

export interface ServerHandle {
  /** `ws://127.0.0.1:PORT`, no path. */
  url: string;
  token: string;
  signal(signal: string): void;
}

type Event =
  | { kind: 'frame'; wire: Wire }
  | { kind: 'undecodable'; bytes: Buffer; why: string }
  | { kind: 'text'; text: string }
  | { kind: 'close'; code: number; reason: string };

class Connection {
  private events: Event[] = [];
  private wake: (() => void) | null = null;
  closedByUs = false;
  serverClosed = false;

  constructor(readonly name: string, readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return this.push({ kind: 'text', text: data.toString('utf8') });
      try {
        this.push({ kind: 'frame', wire: decodeWire(data) });
      } catch (err) {
        this.push({ kind: 'undecodable', bytes: data, why: (err as Error).message });
      }
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.serverClosed = !this.closedByUs;
      this.push({ kind: 'close', code, reason: reason.toString('utf8') });
    });
    ws.on('error', () => undefined);
  }

  private push(e: Event): void {
    if (this.closedByUs) return;
    this.events.push(e);
    this.wake?.();
  }

  /** The next event, waiting until `deadline` (ms since the epoch); null when none came in time. */
  async next(deadline: number): Promise<Event | null> {
    while (this.events.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => (clearTimeout(timer), resolve());
      });
      this.wake = null;
    }
    return this.events.shift()!;
  }

  /** Takes every event waiting now. */
  drain(): Event[] {
    return this.events.splice(0);
  }
}

const isLog = (e: Event) => e.kind === 'frame' && e.wire.t === 'array' && e.wire.v[0]?.t === 'int' && e.wire.v[0].v === 21n;

function describe(e: Event): string {
  switch (e.kind) {
    case 'frame': return render(e.wire);
    case 'undecodable': return `an undecodable binary frame (${e.why}): ${e.bytes.subarray(0, 64).toString('hex')}`;
    case 'text': return `a text frame ${JSON.stringify(e.text.slice(0, 200))}`;
    case 'close': return `the connection closing (code ${e.code}, reason ${JSON.stringify(e.reason)})`;
  }
}

/** Whether every frame in `frames` can be given its own pattern of `group` (a bipartite matching). */
export function assignable(frames: Wire[], group: unknown[]): boolean {
  const fits = frames.map((f) => group.map((p) => match(p, f) === null));
  const owner = new Array<number>(group.length).fill(-1);
  const place = (i: number, seen: boolean[]): boolean => {
    for (let j = 0; j < group.length; j++) {
      if (!fits[i]![j] || seen[j]) continue;
      seen[j] = true;
      if (owner[j] === -1 || place(owner[j]!, seen)) return ((owner[j] = i), true);
    }
    return false;
  };
  return frames.every((_, i) => place(i, new Array<boolean>(group.length).fill(false)));
}

export class Replay {
  private conns = new Map<string, Connection>();

  constructor(private t: Transcript, private server: ServerHandle) {}

  private fill(s: string): string {
    return s.replaceAll('{token}', this.server.token);
  }

  private conn(name: string): Connection {
    return this.conns.get(name)!;
  }

  async run(): Promise<void> {
    await waitUntilReady(this.server.url);
    try {
      for (let i = 0; i < this.t.steps.length; i++) {
        const s = this.t.steps[i]!;
        try {
          await this.step(s);
        } catch (err) {
          throw new Error(`${this.t.name}: step ${i} (${s.kind}${'conn' in s ? ` ${s.conn}` : ''}): ${(err as Error).message}`);
        }
      }
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      for (const c of this.conns.values()) {
        if (c.closedByUs) continue;
        const left = c.drain().filter((e) => !(this.t.logs === 'skip' && isLog(e)));
        if (left.length) throw new Error(`${this.t.name}: after the last step, connection ${c.name} got what no step expected: ${left.map(describe).join('; ')}`);
      }
    } finally {
      for (const c of this.conns.values()) {
        c.closedByUs = true;
        c.ws.terminate();
      }
    }
  }

  private async step(s: Step): Promise<void> {
    switch (s.kind) {
      case 'connect': return this.connect(s);
      case 'send': {
        const c = this.conn(s.conn);
        if (c.ws.readyState !== WebSocket.OPEN) throw new Error('cannot send: the connection is not open');
        const data = 'text' in s.payload ? s.payload.text : s.payload.binary;
        for (let i = 0; i < s.repeat; i++) c.ws.send(data, { binary: !('text' in s.payload) });
        return;
      }
      case 'expect': return this.expect(s);
      case 'quiet': {
        await new Promise((r) => setTimeout(r, s.ms));
        const got = this.conn(s.conn).drain().filter((e) => !(s.logs === 'skip' && isLog(e)));
        if (got.length) throw new Error(`expected nothing for ${s.ms} ms, got ${got.map(describe).join('; ')}`);
        return;
      }
      case 'close': {
        const c = this.conn(s.conn);
        c.closedByUs = true;
        c.ws.close(1000);
        return;
      }
      case 'expectClose': {
        const c = this.conn(s.conn);
        const deadline = Date.now() + s.within;
        for (;;) {
          const e = await c.next(deadline);
          if (!e) throw new Error(`the connection did not close within ${s.within} ms`);
          if ((s.logs === 'skip' && isLog(e)) || (s.skipFrames && e.kind !== 'close')) continue;
          if (e.kind !== 'close') throw new Error(`expected the connection to close, got ${describe(e)}`);
          if (s.code !== undefined && e.code !== s.code) throw new Error(`expected close code ${s.code}, got ${describe(e)}`);
          const why = s.reason === undefined ? null : match(s.reason, { t: 'str', bytes: Buffer.from(e.reason) }, 'close reason');
          if (why) throw new Error(why);
          c.closedByUs = true;
          return;
        }
      }
      case 'http': {
        const res = await httpRequest(this.server.url, s.method, this.fill(s.path), Object.fromEntries(Object.entries(s.headers).map(([k, v]) => [k, this.fill(v)])));
        return checkHttp(s.expect, res);
      }
      case 'sleep': return void (await new Promise((r) => setTimeout(r, s.ms)));
      case 'signal': return this.server.signal(s.signal);
      case 'pause': return this.conn(s.conn).ws.pause();
      case 'resume': return this.conn(s.conn).ws.resume();
    }
  }

  private async connect(s: Extract<Step, { kind: 'connect' }>): Promise<void> {
    const headers = Object.fromEntries(Object.entries(s.headers).map(([k, v]) => [k, this.fill(v)]));
    const ws = new WebSocket(this.server.url + this.fill(s.path), { headers, perMessageDeflate: false, handshakeTimeout: 5000 });
    const outcome = await new Promise<{ open: true; headers: Record<string, unknown> } | { open: false; res?: HttpResponse; error?: string }>((resolve) => {
      let upgradeHeaders: Record<string, unknown> = {};
      ws.once('upgrade', (res) => (upgradeHeaders = res.headers));
      ws.once('open', () => resolve({ open: true, headers: upgradeHeaders }));
      ws.once('unexpected-response', (req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          resolve({ open: false, res: { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') } });
          req.destroy();
        });
      });
      ws.once('error', (err) => resolve({ open: false, error: err.message }));
    });
    if (s.refused) {
      if (outcome.open) {
        ws.terminate();
        throw new Error(`expected the upgrade to be refused with HTTP ${s.refused.status}, but the WebSocket opened`);
      }
      if (!outcome.res) throw new Error(`expected HTTP ${s.refused.status}, got ${outcome.error}`);
      return checkHttp(s.refused, outcome.res);
    }
    if (!outcome.open) throw new Error(`the upgrade failed: ${outcome.res ? `HTTP ${outcome.res.status} ${outcome.res.body}` : outcome.error}`);
    if (s.response?.headers) checkHeaders(s.response.headers, outcome.headers);
    this.conns.set(s.conn, new Connection(s.conn, ws));
  }

  private async expect(s: Extract<Step, { kind: 'expect' }>): Promise<void> {
    const c = this.conn(s.conn);
    const deadline = Date.now() + s.within;
    const skip = (e: Event) => s.logs === 'skip' && isLog(e);
    for (let k = 0; k < s.slots.length; k++) {
      const slot = s.slots[k]!;
      const wanted = 'one' in slot ? [slot.one] : slot.group;
      const accepted: Wire[] = [];
      while (accepted.length < wanted.length) {
        const e = await c.next(deadline);
        const what = 'one' in slot ? `frame #${k} ${JSON.stringify(slot.one)}` : `the unordered group #${k} (${accepted.length} of ${wanted.length} matched)`;
        if (!e) throw new Error(`${what}: nothing came within ${s.within} ms`);
        if (e.kind === 'frame' && assignable([...accepted, e.wire], wanted)) {
          accepted.push(e.wire);
          continue;
        }
        if (skip(e)) continue;
        const why = e.kind === 'frame' && 'one' in slot ? `${match(slot.one, e.wire)}\n    the frame: ${describe(e)}` : `got ${describe(e)}`;
        throw new Error(`${what}: ${why}`);
      }
    }
  }
}

/** Transcripts start once GET /health says the worker is ready (a server accepts calls before that and queues them). */
async function waitUntilReady(wsUrl: string, withinMs = 30_000): Promise<void> {
  const end = Date.now() + withinMs;
  let last = '';
  while (Date.now() < end) {
    try {
      const res = await httpRequest(wsUrl, 'GET', '/health', {});
      if (res.status === 200) return;
      last = `HTTP ${res.status} ${res.body}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the server was not ready within ${withinMs} ms: ${last}`);
}

interface HttpResponse { status: number; headers: Record<string, unknown>; body: string }

function httpRequest(wsUrl: string, method: string, path: string, headers: Record<string, string>): Promise<HttpResponse> {
  const { hostname, port } = new URL(wsUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('no HTTP answer within 5000 ms')));
    req.on('error', reject);
    req.end();
  });
}

/** A JSON value as a decoded msgpack value, so one pattern language serves frames and HTTP bodies. */
export function jsonToWire(x: unknown): Wire {
  if (x === null) return { t: 'nil' };
  if (typeof x === 'boolean') return { t: 'bool', v: x };
  if (typeof x === 'number') {
    if (Number.isSafeInteger(x)) return { t: 'int', v: BigInt(x), enc: shortestInt(BigInt(x)) };
    return { t: 'float', v: x, enc: 'f64' };
  }
  if (typeof x === 'string') return { t: 'str', bytes: Buffer.from(x) };
  if (Array.isArray(x)) return { t: 'array', v: x.map(jsonToWire) };
  return { t: 'map', v: Object.entries(x as object).map(([k, v]) => [{ t: 'str', bytes: Buffer.from(k) }, jsonToWire(v)]) };
}

function checkHeaders(want: Record<string, unknown>, got: Record<string, unknown>): void {
  for (const [name, p] of Object.entries(want)) {
    const v = got[name];
    if (p === null) {
      if (v !== undefined) throw new Error(`header ${name} should be absent, got ${JSON.stringify(v)}`);
      continue;
    }
    if (v === undefined) throw new Error(`header ${name} missing`);
    const why = match(p, { t: 'str', bytes: Buffer.from(Array.isArray(v) ? v.join(', ') : String(v)) }, `header ${name}`);
    if (why) throw new Error(why);
  }
}

function checkHttp(want: HttpExpect, res: HttpResponse): void {
  if (res.status !== want.status) throw new Error(`expected HTTP ${want.status}, got ${res.status} ${res.body.slice(0, 200)}`);
  if (want.headers) checkHeaders(want.headers, res.headers);
  if (want.body !== undefined) {
    const why = match(want.body, { t: 'str', bytes: Buffer.from(res.body) }, 'body');
    if (why) throw new Error(why);
  }
  if (want.json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body);
    } catch {
      throw new Error(`the body is not JSON: ${res.body.slice(0, 200)}`);
    }
    const why = match(want.json, jsonToWire(parsed), 'json');
    if (why) throw new Error(why);
  }
}

