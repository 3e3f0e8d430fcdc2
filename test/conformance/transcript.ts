/**
 * Loads a conformance transcript (docs/conformance/README.md) and checks its
 * shape completely before anything is sent, so a malformed transcript fails
 * with its file and step named instead of replaying half-way.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { encodeWire } from './msgpack.js';
import { NotationError, checkPattern, toWire } from './notation.js';

export type LogMode = 'skip' | 'strict';

/** One element of an `expect` list once `$repeat` is expanded: a frame pattern or an unordered group. */
export type Slot = { one: unknown } | { group: unknown[] };

export interface HttpExpect { status: number; headers?: Record<string, unknown>; json?: unknown; body?: unknown }

export type Step =
  | { kind: 'connect'; conn: string; path: string; headers: Record<string, string>; refused?: HttpExpect; response?: { headers?: Record<string, unknown> } }
  | { kind: 'send'; conn: string; payload: { binary: Buffer } | { text: string }; repeat: number }
  | { kind: 'expect'; conn: string; slots: Slot[]; logs: LogMode; within: number }
  | { kind: 'quiet'; conn: string; ms: number; logs: LogMode }
  | { kind: 'close'; conn: string }
  | { kind: 'expectClose'; conn: string; code?: number; reason?: unknown; logs: LogMode; within: number; skipFrames: boolean }
  | { kind: 'http'; method: string; path: string; headers: Record<string, string>; expect: HttpExpect }
  | { kind: 'sleep'; ms: number }
  | { kind: 'signal'; signal: string }
  | { kind: 'pause'; conn: string }
  | { kind: 'resume'; conn: string };

export interface Transcript {
  /** The file name without `.json`. */
  name: string;
  file: string;
  title: string;
  doc?: string;
  /** Set when the server is known to disagree with docs/protocol.md: the transcript follows the doc. */
  discrepancy?: string;
  /** Present when the transcript needs a server of its own (started with these environment variables). */
  server?: { env: Record<string, string> };
  logs: LogMode;
  steps: Step[];
}

export const DEFAULT_WITHIN_MS = 5000;
export const SETTLE_MS = 150;
export const DEFAULT_HEADERS = { Authorization: 'Bearer {token}' };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

class TranscriptError extends Error {}

function fail(at: string, why: string): never {
  throw new TranscriptError(`${at}: ${why}`);
}

function keysOnly(x: Record<string, unknown>, allowed: string[], at: string): void {
  for (const k of Object.keys(x)) if (!allowed.includes(k)) fail(at, `unknown key "${k}" (allowed: ${allowed.join(', ')})`);
}

function str(x: unknown, at: string): string {
  if (typeof x !== 'string' || x === '') fail(at, `expected a non-empty string, got ${JSON.stringify(x)}`);
  return x;
}

function nonNegInt(x: unknown, at: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(at, `expected a non-negative integer, got ${JSON.stringify(x)}`);
  return x;
}

function headers(x: unknown, at: string): Record<string, string> {
  if (!isObject(x)) fail(at, 'headers are an object of name → string');
  for (const [k, v] of Object.entries(x)) if (typeof v !== 'string') fail(`${at}.${k}`, 'a header value to send is a string');
  return x as Record<string, string>;
}

function pattern(x: unknown, at: string): unknown {
  try {
    checkPattern(x, at);
  } catch (err) {
    if (err instanceof NotationError) fail(at, err.message);
    throw err;
  }
  return x;
}

function headerPatterns(x: unknown, at: string): Record<string, unknown> {
  if (!isObject(x)) fail(at, 'expected headers are an object of name → pattern or null');
  for (const [k, v] of Object.entries(x)) if (v !== null) pattern(v, `${at}.${k}`);
  return Object.fromEntries(Object.entries(x).map(([k, v]) => [k.toLowerCase(), v]));
}

function httpExpect(x: unknown, at: string): HttpExpect {
  if (!isObject(x)) fail(at, 'expected {status, headers?, json?, body?}');
  keysOnly(x, ['status', 'headers', 'json', 'body'], at);
  if ('json' in x && 'body' in x) fail(at, 'give json or body, not both');
  const out: HttpExpect = { status: nonNegInt(x.status, `${at}.status`) };
  if ('headers' in x) out.headers = headerPatterns(x.headers, `${at}.headers`);
  if ('json' in x) out.json = pattern(x.json, `${at}.json`);
  if ('body' in x) out.body = pattern(x.body, `${at}.body`);
  return out;
}

function logMode(x: unknown, at: string, fallback: LogMode): LogMode {
  if (x === undefined) return fallback;
  if (x !== 'skip' && x !== 'strict') fail(at, `logs is "skip" or "strict", got ${JSON.stringify(x)}`);
  return x;
}

function slots(x: unknown, at: string): Slot[] {
  if (!Array.isArray(x) || x.length === 0) fail(at, 'frames is a non-empty list (to expect silence, use a "quiet" step)');
  const out: Slot[] = [];
  const expand = (item: unknown, where: string): unknown[] => {
    if (isObject(item) && '$repeat' in item) {
      keysOnly(item, ['$repeat', 'count'], where);
      const n = nonNegInt(item.count, `${where}.count`);
      if (n === 0) fail(where, '$repeat count must be at least 1');
      return Array.from({ length: n }, () => pattern(item.$repeat, `${where}.$repeat`));
    }
    if (isObject(item) && '$unordered' in item) fail(where, '$unordered cannot be nested');
    return [pattern(item, where)];
  };
  x.forEach((item, i) => {
    const where = `${at}[${i}]`;
    if (isObject(item) && '$unordered' in item) {
      keysOnly(item, ['$unordered'], where);
      if (!Array.isArray(item.$unordered) || item.$unordered.length === 0) fail(where, '$unordered takes a non-empty list');
      out.push({ group: item.$unordered.flatMap((q, j) => expand(q, `${where}.$unordered[${j}]`)) });
    } else {
      for (const one of expand(item, where)) out.push({ one });
    }
  });
  return out;
}

function payload(x: Record<string, unknown>, at: string): { binary: Buffer } | { text: string } {
  const given = ['frame', 'hex', 'text'].filter((k) => k in x);
  if (given.length !== 1) fail(at, 'a send step gives exactly one of frame, hex, text');
  if ('text' in x) {
    if (typeof x.text !== 'string') fail(at, 'text is a string');
    return { text: x.text };
  }
  if ('hex' in x) {
    if (typeof x.hex !== 'string' || !/^([0-9a-fA-F]{2}|\s)*$/.test(x.hex)) fail(at, 'hex is pairs of hex digits');
    return { binary: Buffer.from(x.hex.replace(/\s+/g, ''), 'hex') };
  }
  try {
    return { binary: encodeWire(toWire(x.frame, `${at}.frame`)) };
  } catch (err) {
    if (err instanceof NotationError || err instanceof RangeError) fail(at, err.message);
    throw err;
  }
}

function step(x: unknown, at: string, defaults: { logs: LogMode }, conns: Set<string>): Step {
  if (!isObject(x)) fail(at, 'a step is an object');
  const kinds = ['connect', 'send', 'expect', 'quiet', 'close', 'expectClose', 'http', 'sleep', 'signal', 'pause', 'resume'].filter((k) => k in x);
  if (kinds.length !== 1) fail(at, `a step has exactly one of connect, send, expect, quiet, close, expectClose, http, sleep, signal, pause, resume (got ${kinds.join(', ') || 'none'})`);
  const kind = kinds[0]!;
  const conn = (k: string) => {
    const name = str(x[k], `${at}.${k}`);
    if (kind === 'connect') {
      if (conns.has(name)) fail(at, `connection "${name}" is already opened`);
      if (!x.refused) conns.add(name);
    } else if (!conns.has(name)) fail(at, `connection "${name}" is not opened by an earlier connect step`);
    return name;
  };
  switch (kind) {
    case 'connect': {
      keysOnly(x, ['connect', 'path', 'headers', 'refused', 'response'], at);
      const s: Step = { kind, conn: conn('connect'), path: x.path === undefined ? '/' : str(x.path, `${at}.path`), headers: x.headers === undefined ? { ...DEFAULT_HEADERS } : headers(x.headers, `${at}.headers`) };
      if (x.refused !== undefined) s.refused = httpExpect(x.refused, `${at}.refused`);
      if (x.response !== undefined) {
        if (!isObject(x.response)) fail(`${at}.response`, 'expected {headers}');
        keysOnly(x.response, ['headers'], `${at}.response`);
        s.response = { headers: headerPatterns(x.response.headers, `${at}.response.headers`) };
      }
      if (s.refused && s.response) fail(at, 'a connect step is refused or has a response, not both');
      return s;
    }
    case 'send':
      keysOnly(x, ['send', 'frame', 'hex', 'text', 'repeat'], at);
      return { kind, conn: conn('send'), payload: payload(x, at), repeat: x.repeat === undefined ? 1 : nonNegInt(x.repeat, `${at}.repeat`) };
    case 'expect':
      keysOnly(x, ['expect', 'frames', 'logs', 'within'], at);
      return { kind, conn: conn('expect'), slots: slots(x.frames, `${at}.frames`), logs: logMode(x.logs, `${at}.logs`, defaults.logs), within: x.within === undefined ? DEFAULT_WITHIN_MS : nonNegInt(x.within, `${at}.within`) };
    case 'quiet':
      keysOnly(x, ['quiet', 'ms', 'logs'], at);
      return { kind, conn: conn('quiet'), ms: nonNegInt(x.ms, `${at}.ms`), logs: logMode(x.logs, `${at}.logs`, defaults.logs) };
    case 'close':
      keysOnly(x, ['close'], at);
      return { kind, conn: conn('close') };
    case 'expectClose': {
      keysOnly(x, ['expectClose', 'code', 'reason', 'logs', 'within', 'skipFrames'], at);
      if (x.skipFrames !== undefined && typeof x.skipFrames !== 'boolean') fail(at, 'skipFrames is true or false');
      const s: Step = { kind, conn: conn('expectClose'), logs: logMode(x.logs, `${at}.logs`, defaults.logs), within: x.within === undefined ? DEFAULT_WITHIN_MS : nonNegInt(x.within, `${at}.within`), skipFrames: x.skipFrames === true };
      if (x.code !== undefined) s.code = nonNegInt(x.code, `${at}.code`);
      if (x.reason !== undefined) s.reason = pattern(x.reason, `${at}.reason`);
      return s;
    }
    case 'http': {
      keysOnly(x, ['http', 'response'], at);
      const h = x.http;
      if (!isObject(h)) fail(`${at}.http`, 'expected {method, path, headers?}');
      keysOnly(h, ['method', 'path', 'headers'], `${at}.http`);
      return { kind, method: str(h.method, `${at}.http.method`), path: str(h.path, `${at}.http.path`), headers: h.headers === undefined ? {} : headers(h.headers, `${at}.http.headers`), expect: httpExpect(x.response, `${at}.response`) };
    }
    case 'sleep':
      keysOnly(x, ['sleep'], at);
      return { kind, ms: nonNegInt(x.sleep, `${at}.sleep`) };
    case 'signal':
      keysOnly(x, ['signal'], at);
      if (!['SIGTERM', 'SIGINT'].includes(x.signal as string)) fail(at, 'signal is "SIGTERM" or "SIGINT"');
      return { kind, signal: x.signal as string };
    case 'pause':
      keysOnly(x, ['pause'], at);
      return { kind, conn: conn('pause') };
    default:
      keysOnly(x, ['resume'], at);
      return { kind: 'resume', conn: conn('resume') };
  }
}

export function parseTranscript(json: unknown, file: string): Transcript {
  const at = basename(file);
  if (!isObject(json)) fail(at, 'a transcript is a JSON object');
  keysOnly(json, ['title', 'doc', 'discrepancy', 'server', 'logs', 'steps'], at);
  const t: Transcript = { name: basename(file, '.json'), file, title: str(json.title, `${at}.title`), logs: logMode(json.logs, `${at}.logs`, 'skip'), steps: [] };
  if (json.doc !== undefined) t.doc = str(json.doc, `${at}.doc`);
  if (json.discrepancy !== undefined) t.discrepancy = str(json.discrepancy, `${at}.discrepancy`);
  if (json.server !== undefined) {
    if (!isObject(json.server)) fail(`${at}.server`, 'expected {env}');
    keysOnly(json.server, ['env'], `${at}.server`);
    t.server = { env: json.server.env === undefined ? {} : headers(json.server.env, `${at}.server.env`) };
  }
  if (!Array.isArray(json.steps) || json.steps.length === 0) fail(`${at}.steps`, 'a non-empty list of steps');
  const conns = new Set<string>();
  t.steps = json.steps.map((s, i) => step(s, `${at}.steps[${i}]`, { logs: t.logs }, conns));
  if (t.steps.some((s) => s.kind === 'signal') && !t.server) fail(at, 'a transcript with a signal step needs "server": {} (a server of its own)');
  if (!t.steps.some((s) => s.kind === 'expect' || s.kind === 'expectClose' || s.kind === 'http' || (s.kind === 'connect' && (s.refused || s.response)))) {
    fail(at, 'a transcript checks nothing (no expect, expectClose, http, refused or response step)');
  }
  return t;
}

export function loadTranscripts(dir: string): Transcript[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => parseTranscript(JSON.parse(readFileSync(join(dir, f), 'utf8')), join(dir, f)));
}

export { TranscriptError };
