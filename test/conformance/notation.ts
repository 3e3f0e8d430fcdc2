/**
 * The value notation of the conformance transcripts (docs/conformance/README.md,
 * "Values" and "Patterns"): JSON that says exactly which msgpack bytes to send,
 * and patterns that say which decoded frames are acceptable. Both sides are
 * checked when a transcript is loaded, so a typo in a tag is an error, never a
 * pattern that silently matches everything.
 */
import { INT_ENCODINGS, fitsInt, shortestInt, type IntEnc, type Wire } from './msgpack.js';

export class NotationError extends Error {}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The `$tag` of a tagged object, checking it has only the keys that tag allows. */
function tagOf(x: Record<string, unknown>, at: string, allowed: Record<string, readonly string[]>): string | null {
  const keys = Object.keys(x);
  const tags = keys.filter((k) => k.startsWith('$'));
  if (tags.length === 0) return null;
  if (tags.length > 1) throw new NotationError(`${at}: more than one $-key (${tags.join(', ')}); a map with $-keys is written {"$map": [[k, v], …]}`);
  const tag = tags[0]!;
  const extra = allowed[tag];
  if (!extra) throw new NotationError(`${at}: unknown tag ${tag}`);
  for (const k of keys) if (k !== tag && !extra.includes(k)) throw new NotationError(`${at}: ${tag} takes no key "${k}"`);
  return tag;
}

function hexBytes(x: unknown, at: string): Uint8Array {
  if (typeof x !== 'string' || !/^([0-9a-fA-F]{2}|\s)*$/.test(x)) throw new NotationError(`${at}: expected a hex string (pairs of hex digits, spaces allowed), got ${JSON.stringify(x)}`);
  return Uint8Array.from(Buffer.from(x.replace(/\s+/g, ''), 'hex'));
}

function utf8Bytes(s: string, at: string): Uint8Array {
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s)) {
    throw new NotationError(`${at}: a string with a lone surrogate has no UTF-8 form; write its bytes with {"$strhex": …}`);
  }
  return utf8.encode(s);
}

function plainInt(x: number, at: string): bigint {
  if (!Number.isSafeInteger(x)) throw new NotationError(`${at}: a plain number must be an integer within ±(2^53−1), got ${x}; write floats as {"$f64": x} and big integers as {"$int": "digits"}`);
  return BigInt(x);
}

function bigIntOf(x: unknown, at: string): bigint {
  if (typeof x === 'number') return plainInt(x, at);
  if (typeof x !== 'string' || !/^-?\d+$/.test(x)) throw new NotationError(`${at}: $int takes decimal digits as a string, got ${JSON.stringify(x)}`);
  return BigInt(x);
}

function intEncs(x: unknown, at: string): IntEnc[] | null {
  if (x === undefined) return null;
  const list = Array.isArray(x) ? x : [x];
  for (const e of list) if (!INT_ENCODINGS.includes(e as IntEnc)) throw new NotationError(`${at}: "as" must be one of ${INT_ENCODINGS.join(', ')}, got ${JSON.stringify(e)}`);
  if (list.length === 0) throw new NotationError(`${at}: "as" must name at least one encoding`);
  return list as IntEnc[];
}

function floatOf(x: unknown, at: string): number {
  if (typeof x === 'number') return x;
  const special: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };
  if (typeof x === 'string' && x in special) return special[x]!;
  throw new NotationError(`${at}: a float is a JSON number or one of "NaN", "Infinity", "-Infinity", "-0"; got ${JSON.stringify(x)}`);
}

function countOf(x: unknown, at: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new NotationError(`${at}: "count" must be a non-negative integer`);
  return x;
}

function extType(x: unknown, at: string): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < -128 || x > 127) throw new NotationError(`${at}: an ext type is an integer from -128 to 127`);
  return x;
}

function timestampData(x: unknown, at: string): Uint8Array {
  if (!isObject(x) || Object.keys(x).sort().join() !== 'nsec,sec') throw new NotationError(`${at}: $timestamp takes {"sec": …, "nsec": …}`);
  const sec = bigIntOf(x.sec, `${at}.sec`);
  const nsec = bigIntOf(x.nsec, `${at}.nsec`);
  if (nsec < 0n || nsec > 999_999_999n) throw new NotationError(`${at}: nsec must be 0…999999999`);
  const b = Buffer.alloc(12);
  if (nsec === 0n && sec >= 0n && sec <= 0xffffffffn) return (b.writeUInt32BE(Number(sec)), Uint8Array.from(b.subarray(0, 4)));
  if (sec >= 0n && sec < 1n << 34n) return (b.writeBigUInt64BE((nsec << 34n) | sec), Uint8Array.from(b.subarray(0, 8)));
  b.writeUInt32BE(Number(nsec));
  b.writeBigInt64BE(sec, 4);
  return Uint8Array.from(b);
}

/** The timestamp (sec, nsec) an ext −1 carries, in any of its three layouts, or null. */
function timestampOf(data: Uint8Array): [bigint, bigint] | null {
  const b = Buffer.from(data);
  if (b.length === 4) return [BigInt(b.readUInt32BE(0)), 0n];
  if (b.length === 8) {
    const v = b.readBigUInt64BE(0);
    return [v & ((1n << 34n) - 1n), v >> 34n];
  }
  if (b.length === 12) return [b.readBigInt64BE(4), BigInt(b.readUInt32BE(0))];
  return null;
}

/** The tags a value and a pattern share, each with the extra keys it takes. */
const EXACT_TAGS = { $int: ['as'], $f64: [], $f32: [], $bin: [], $ext: ['hex'], $undefined: [], $strhex: [], $map: [], $timestamp: [], $array_of: ['count'] } as const;
const VALUE_TAGS = { ...EXACT_TAGS, $raw: [] } as const;

/** A transcript value (what to send) as exact msgpack. */
export function toWire(x: unknown, at = '$'): Wire {
  if (x === null) return { t: 'nil' };
  if (typeof x === 'boolean') return { t: 'bool', v: x };
  if (typeof x === 'number') {
    const v = plainInt(x, at);
    return { t: 'int', v, enc: shortestInt(v) };
  }
  if (typeof x === 'string') return { t: 'str', bytes: utf8Bytes(x, at) };
  if (Array.isArray(x)) return { t: 'array', v: x.map((item, i) => toWire(item, `${at}[${i}]`)) };
  if (!isObject(x)) throw new NotationError(`${at}: not a transcript value: ${String(x)}`);
  const tag = tagOf(x, at, VALUE_TAGS);
  if (tag === null) return { t: 'map', v: Object.entries(x).map(([k, v]) => [{ t: 'str', bytes: utf8Bytes(k, `${at} key`) }, toWire(v, `${at}.${k}`)]) };
  const arg = x[tag];
  switch (tag) {
    case '$int': {
      const v = bigIntOf(arg, at);
      const encs = intEncs(x.as, at);
      if (encs && encs.length !== 1) throw new NotationError(`${at}: to send, "as" names one encoding`);
      const enc = encs ? encs[0]! : shortestInt(v);
      if (!fitsInt(v, enc)) throw new NotationError(`${at}: ${v} does not fit ${enc}`);
      return { t: 'int', v, enc };
    }
    case '$f64': return { t: 'float', v: floatOf(arg, at), enc: 'f64' };
    case '$f32': return { t: 'float', v: floatOf(arg, at), enc: 'f32' };
    case '$bin': return { t: 'bin', v: hexBytes(arg, at) };
    case '$ext': return { t: 'ext', type: extType(arg, at), data: hexBytes(x.hex, at) };
    case '$undefined': nullArg(arg, at, tag); return { t: 'ext', type: 0, data: Uint8Array.of(0) };
    case '$strhex': return { t: 'str', bytes: hexBytes(arg, at) };
    case '$map': return { t: 'map', v: pairsOf(arg, at).map(([k, v], i) => [toWire(k, `${at}[${i}][0]`), toWire(v, `${at}[${i}][1]`)]) };
    case '$timestamp': return { t: 'ext', type: -1, data: timestampData(arg, at) };
    case '$raw': return { t: 'raw', bytes: hexBytes(arg, at) };
    case '$array_of': return { t: 'arrayOf', item: toWire(arg, `${at}.$array_of`), count: countOf(x.count, at) };
  }
  throw new NotationError(`${at}: ${tag} cannot be sent`);
}

function nullArg(arg: unknown, at: string, tag: string): void {
  if (arg !== null) throw new NotationError(`${at}: ${tag} takes null`);
}

function pairsOf(arg: unknown, at: string): [unknown, unknown][] {
  if (!Array.isArray(arg) || !arg.every((p) => Array.isArray(p) && p.length === 2)) throw new NotationError(`${at}: $map takes a list of [key, value] pairs`);
  return arg as [unknown, unknown][];
}

// ---------------------------------------------------------------- patterns

const ANY_KINDS = ['value', 'nil', 'bool', 'int', 'float', 'number', 'string', 'bin', 'ext', 'array', 'map'] as const;

const PATTERN_TAGS = { ...EXACT_TAGS, $any: [], $regex: [], $has: [], $oneOf: [], $absent: [], $bigext: [] } as const;

/** Checks a pattern is well formed (throws NotationError naming where it is not). */
export function checkPattern(p: unknown, at = '$'): void {
  if (p === null || typeof p === 'boolean') return;
  if (typeof p === 'number') return void plainInt(p, at);
  if (typeof p === 'string') return void utf8Bytes(p, at);
  if (Array.isArray(p)) return p.forEach((q, i) => checkPattern(q, `${at}[${i}]`));
  if (!isObject(p)) throw new NotationError(`${at}: not a pattern: ${String(p)}`);
  const tag = tagOf(p, at, PATTERN_TAGS);
  if (tag === null) return Object.entries(p).forEach(([k, v]) => (utf8Bytes(k, `${at} key`), checkPattern(v, `${at}.${k}`)));
  const arg = p[tag];
  switch (tag) {
    case '$int': bigIntOf(arg, at); intEncs(p.as, at); return;
    case '$f64': case '$f32': floatOf(arg, at); return;
    case '$bin': case '$strhex': hexBytes(arg, at); return;
    case '$ext': extType(arg, at); hexBytes(p.hex, at); return;
    case '$undefined': case '$absent': nullArg(arg, at, tag); return;
    case '$bigext': bigIntOf(arg, at); return;
    case '$timestamp': timestampData(arg, at); return;
    case '$map': pairsOf(arg, at).forEach(([k, v], i) => (checkPattern(k, `${at}[${i}][0]`), checkPattern(v, `${at}[${i}][1]`))); return;
    case '$array_of': countOf(p.count, at); checkPattern(arg, `${at}.$array_of`); return;
    case '$any':
      if (!ANY_KINDS.includes(arg as (typeof ANY_KINDS)[number])) throw new NotationError(`${at}: $any takes one of ${ANY_KINDS.join(', ')}`);
      return;
    case '$regex':
      if (typeof arg !== 'string') throw new NotationError(`${at}: $regex takes a string`);
      new RegExp(arg);
      return;
    case '$has':
      if (!isObject(arg)) throw new NotationError(`${at}: $has takes an object of key → pattern`);
      Object.entries(arg).forEach(([k, v]) => checkPattern(v, `${at}.${k}`));
      return;
    case '$oneOf':
      if (!Array.isArray(arg) || arg.length === 0) throw new NotationError(`${at}: $oneOf takes a non-empty list of patterns`);
      arg.forEach((q, i) => checkPattern(q, `${at}.$oneOf[${i}]`));
      return;
  }
}

const bytesEqual = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

function strOf(w: Wire): string | null {
  if (w.t !== 'str') return null;
  try {
    return strictUtf8.decode(w.bytes);
  } catch {
    return null;
  }
}

/** The map's pairs keyed by string, or a reason it is not a map with unique string keys. */
function stringKeyed(w: Wire): Map<string, Wire> | string {
  if (w.t !== 'map') return `expected a map, got ${render(w)}`;
  const out = new Map<string, Wire>();
  for (const [k, v] of w.v) {
    const key = strOf(k);
    if (key === null) return `map key ${render(k)} is not a UTF-8 string`;
    if (out.has(key)) return `map key "${key}" appears twice`;
    out.set(key, v);
  }
  return out;
}

/** Null when `w` matches pattern `p`; else what differs, and where. */
export function match(p: unknown, w: Wire, at = '$'): string | null {
  const differ = (what: string) => `${at}: expected ${what}, got ${render(w)}`;
  if (p === null) return w.t === 'nil' ? null : differ('nil');
  if (typeof p === 'boolean') return w.t === 'bool' && w.v === p ? null : differ(String(p));
  if (typeof p === 'number') return w.t === 'int' && w.v === BigInt(p) ? null : differ(`the integer ${p}`);
  if (typeof p === 'string') return w.t === 'str' && bytesEqual(w.bytes, utf8.encode(p)) ? null : differ(JSON.stringify(p));
  if (Array.isArray(p)) {
    if (w.t !== 'array' || w.v.length !== p.length) return differ(`an array of ${p.length}`);
    for (let i = 0; i < p.length; i++) {
      const why = match(p[i], w.v[i]!, `${at}[${i}]`);
      if (why) return why;
    }
    return null;
  }
  const obj = p as Record<string, unknown>;
  const tag = Object.keys(obj).find((k) => k.startsWith('$'));
  if (tag === undefined) return matchMap(obj, w, at, true);
  const arg = obj[tag];
  switch (tag) {
    case '$int': {
      const encs = intEncs(obj.as, at);
      if (w.t !== 'int' || w.v !== bigIntOf(arg, at)) return differ(`the integer ${String(arg)}`);
      return encs && !encs.includes(w.enc) ? differ(`the integer ${String(arg)} encoded as ${encs.join(' or ')}`) : null;
    }
    case '$f64':
    case '$f32': {
      const enc = tag.slice(1);
      const want = enc === 'f32' ? Math.fround(floatOf(arg, at)) : floatOf(arg, at);
      if (w.t !== 'float' || w.enc !== enc) return differ(`a ${enc} ${String(arg)}`);
      return (Number.isNaN(want) && Number.isNaN(w.v)) || Object.is(want, w.v) ? null : differ(`a ${enc} ${String(arg)}`);
    }
    case '$bin': return w.t === 'bin' && bytesEqual(w.v, hexBytes(arg, at)) ? null : differ(`bin ${String(arg)}`);
    case '$ext': return w.t === 'ext' && w.type === arg && bytesEqual(w.data, hexBytes(obj.hex, at)) ? null : differ(`ext ${String(arg)} ${String(obj.hex)}`);
    case '$undefined': return w.t === 'ext' && w.type === 0 && bytesEqual(w.data, Uint8Array.of(0)) ? null : differ('undefined (d4 00 00)');
    case '$strhex': return w.t === 'str' && bytesEqual(w.bytes, hexBytes(arg, at)) ? null : differ(`a string of bytes ${String(arg)}`);
    case '$timestamp': {
      const want = arg as { sec: unknown; nsec: unknown };
      const got = w.t === 'ext' && w.type === -1 ? timestampOf(w.data) : null;
      return got && got[0] === bigIntOf(want.sec, at) && got[1] === bigIntOf(want.nsec, at) ? null : differ(`a timestamp ${JSON.stringify(arg)}`);
    }
    case '$map': {
      const pairs = arg as [unknown, unknown][];
      if (w.t !== 'map' || w.v.length !== pairs.length) return differ(`a map of ${pairs.length} pairs`);
      for (let i = 0; i < pairs.length; i++) {
        const why = match(pairs[i]![0], w.v[i]![0], `${at}{#${i} key}`) ?? match(pairs[i]![1], w.v[i]![1], `${at}{#${i}}`);
        if (why) return why;
      }
      return null;
    }
    case '$array_of': {
      const n = obj.count as number;
      if (w.t !== 'array' || w.v.length !== n) return differ(`an array of ${n}`);
      for (let i = 0; i < n; i++) {
        const why = match(arg, w.v[i]!, `${at}[${i}]`);
        if (why) return why;
      }
      return null;
    }
    case '$any': return anyKind(arg as string, w) ? null : differ(`any ${String(arg)}`);
    case '$regex': {
      const s = strOf(w);
      return s !== null && new RegExp(arg as string).test(s) ? null : differ(`a string matching /${String(arg)}/`);
    }
    case '$has': return matchMap(arg as Record<string, unknown>, w, at, false);
    case '$absent': return differ('no value (the key absent)');
    case '$bigext': {
      const want = bigIntOf(arg, at);
      return w.t === 'ext' && w.type === 0x42 && w.data.length > 0 && twosComplement(w.data) === want ? null : differ(`ext 0x42 holding ${want}`);
    }
    case '$oneOf': {
      const whys = (arg as unknown[]).map((q) => match(q, w, at));
      return whys.some((x) => x === null) ? null : `${at}: none of $oneOf matched (${whys.join('; ')})`;
    }
  }
  throw new NotationError(`${at}: unknown tag ${tag}`);
}

/** A big-endian two's complement integer of any length. */
function twosComplement(data: Uint8Array): bigint {
  let v = 0n;
  for (const b of data) v = (v << 8n) | BigInt(b);
  return data[0]! & 0x80 ? v - (1n << BigInt(8 * data.length)) : v;
}

function matchMap(pattern: Record<string, unknown>, w: Wire, at: string, exact: boolean): string | null {
  const got = stringKeyed(w);
  if (typeof got === 'string') return `${at}: ${got}`;
  for (const [k, q] of Object.entries(pattern)) {
    const v = got.get(k);
    const absent = typeof q === 'object' && q !== null && Object.hasOwn(q, '$absent');
    if (absent) {
      if (v !== undefined) return `${at}: key "${k}" should be absent, got ${render(v)}`;
      continue;
    }
    if (v === undefined) return `${at}: key "${k}" missing in ${render(w)}`;
    const why = match(q, v, `${at}.${k}`);
    if (why) return why;
  }
  if (exact) {
    const extra = [...got.keys()].filter((k) => !Object.hasOwn(pattern, k));
    if (extra.length) return `${at}: unexpected key${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')} in ${render(w)}`;
  }
  return null;
}

function anyKind(kind: string, w: Wire): boolean {
  switch (kind) {
    case 'value': return true;
    case 'number': return w.t === 'int' || w.t === 'float';
    case 'string': return w.t === 'str';
    default: return w.t === kind;
  }
}

/** A decoded value in the transcript notation, cut to `max` characters, for failure messages. */
export function render(w: Wire, max = 400): string {
  const s = JSON.stringify(toNotation(w));
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function toNotation(w: Wire): unknown {
  switch (w.t) {
    case 'nil': return null;
    case 'bool': return w.v;
    case 'int':
      return w.enc === shortestInt(w.v) && w.v >= BigInt(Number.MIN_SAFE_INTEGER) && w.v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(w.v) : { $int: w.v.toString(), as: w.enc };
    case 'float': return { [`$${w.enc}`]: Number.isFinite(w.v) && !Object.is(w.v, -0) ? w.v : String(Object.is(w.v, -0) ? '-0' : w.v) };
    case 'str': {
      const s = strOf(w);
      return s !== null ? s : { $strhex: Buffer.from(w.bytes).toString('hex') };
    }
    case 'bin': return { $bin: Buffer.from(w.v).toString('hex') };
    case 'ext': return w.type === 0 && w.data.length === 1 && w.data[0] === 0 ? { $undefined: null } : { $ext: w.type, hex: Buffer.from(w.data).toString('hex') };
    case 'array': return w.v.map(toNotation);
    case 'map': {
      const keyed = stringKeyed(w);
      if (typeof keyed !== 'string') return Object.fromEntries([...keyed].map(([k, v]) => [k, toNotation(v)]));
      return { $map: w.v.map(([k, v]) => [toNotation(k), toNotation(v)]) };
    }
    case 'raw': return { $raw: Buffer.from(w.bytes).toString('hex') };
    case 'arrayOf': return { $array_of: toNotation(w.item), count: w.count };
  }
}
