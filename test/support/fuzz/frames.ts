/**
 * The frame generator: what one fuzzing connection sends, from a seed.
 *
 * Each frame is chosen by the connection's Rng alone, never by what the
 * server answered, so the same seed makes the same frames (the order in
 * which they reach the server may still differ). Frames are of two families:
 *
 *   - valid messages of every client type with random fields (CALLs to every
 *     safe target with schema-valid or random arguments, any integer encoding,
 *     odd deadlines and options; CANCEL, CREDIT, INBOX_ITEM, INBOX_END for
 *     calls in flight, finished or never made; credit floods; duplicate ids).
 *     CALLs with a fresh id are *tracked*: the connection checks that each
 *     gets exactly one final of the right shape, within its credit, and
 *     nothing after it;
 *   - broken ones (untracked ids, so they can never be mistaken for a tracked
 *     call's messages): garbage, text frames, wrong types and ids (0, negative,
 *     float, beyond 2^32−1), non-arrays, short arrays, malformed CALL fields,
 *     structure-aware mutations of valid frames (truncation, bit flips,
 *     inserted/deleted bytes, changed element counts, swapped headers),
 *     exotic values (every ext type, reference extensions, records), deep
 *     nesting, headers that promise more than follows, oversized frames,
 *     decoded-size bombs.
 */
import { encode } from '../../../runtime/wire/codec.js';
import * as M from './msgpack-raw.js';
import type { Rng } from './rng.js';
import type { FuzzTarget, FuzzTargets, Shape } from './targets.js';
import { anyString, anyValue, exoticRaw, validFor } from './values.js';

export interface TrackedCall {
  id: number;
  target: string;
  /** The answer's shape: the target's, or `error` when the CALL can only be refused. */
  shape: Shape | 'error';
  /** The error code docs/protocol.md promises for this CALL, when it promises one. */
  expect?: string;
  /** Stream items the server may send: the initial credit plus every valid CREDIT sent (Infinity: unbounded). */
  credit: number;
  /** Bidi: inbox items sent so far. */
  inboxSent: number;
  /** The CALL's bytes, for a repro. */
  frame: Buffer;
  /** A CALL with the same id was sent after it: messages after its first final may belong to that one. */
  loose: boolean;
  /** A CANCEL was sent for it: CANCELLED is then a right answer too. */
  cancelled: boolean;
}

export interface FuzzFrame {
  /** A Buffer goes out as a binary frame, a string as a text frame. */
  data: Buffer | string;
  kind: string;
  /** Set on a CALL with a fresh id: the connection checks its answers. */
  opens?: TrackedCall;
}

/** Lifetime profiles: how hostile one connection's life is. A calm one ends by itself and checks every tracked call got its final. */
export type Profile = 'calm' | 'mixed' | 'hostile';

export interface GeneratorOptions {
  targets: FuzzTargets;
  /** The server's message limit (AGENTIX_MAX_PAYLOAD): oversized frames are made just past it. */
  maxPayload: number;
  /** Frame kinds never to make (e.g. the families of a defect already known, to look past it). */
  exclude?: readonly string[];
}

/** Tracked ids start here; untracked ones are ≥ 2^28 with two high bits set, so one mutation cannot turn one into the other. */
const TRACKED_BASE = 1 << 20;
const TYPES = { CALL: 1, CANCEL: 2, INBOX_ITEM: 3, INBOX_END: 4, CREDIT: 5 } as const;
const DEFAULT_CREDIT = 256;
const FIRST_INBOX_CREDIT = 64;

export class FrameGenerator {
  private nextTracked = TRACKED_BASE;
  /** Tracked calls of this lifetime, newest last (ended ones too: follow-ups to finished calls are part of the game). */
  private readonly opened: TrackedCall[] = [];
  private profile: Profile = 'mixed';
  private readonly byShape: Record<Shape, FuzzTarget[]>;

  constructor(
    private readonly rng: Rng,
    private readonly opts: GeneratorOptions,
  ) {
    this.byShape = { unary: [], stream: [], bidi: [] };
    for (const t of opts.targets.safe) this.byShape[t.shape].push(t);
  }

  /** A new connection: fresh ids, and a profile for its life. */
  newLifetime(): Profile {
    this.nextTracked = TRACKED_BASE;
    this.opened.length = 0;
    this.profile = this.rng.weighted<Profile>([[2, 'calm'], [3, 'mixed'], [2, 'hostile']]);
    return this.profile;
  }

  /** The next frames to send (usually one; floods and pairs give several). */
  next(): FuzzFrame[] {
    const [valid, odd] = this.profile === 'calm' ? [0.9, 0.08] : this.profile === 'mixed' ? [0.55, 0.2] : [0.25, 0.25];
    const x = this.rng.float();
    return x < valid ? this.valid() : x < valid + odd ? this.oddCall() : this.broken();
  }

  /** The choices whose kind is not excluded (weight 0 otherwise). */
  private allowed(choices: [number, string][]): [number, string][] {
    const ex = this.opts.exclude;
    return ex && ex.length > 0 ? choices.map(([w, k]) => [ex.includes(k) ? 0 : w, k]) : choices;
  }

  // ---- valid messages -----------------------------------------------------------

  private valid(): FuzzFrame[] {
    const live = this.opened.length > 0;
    return this.rng.weighted<() => FuzzFrame[]>([
      [10, () => [this.trackedCall()]],
      [live ? 2 : 0, () => {
        const call = this.recent();
        call.cancelled = true;
        return [this.cancel(call.id, 'cancel')];
      }],
      [1, () => [this.cancel(this.untrackedId(), 'cancel-unknown')]],
      [live ? 3 : 0, () => this.credit()],
      [live ? 0.15 : 0, () => this.creditFlood()],
      [live ? 4 : 0, () => this.inbox()],
      [live ? 0.5 : 0, () => [this.duplicateCall()]],
    ])();
  }

  private trackedCall(): FuzzFrame {
    const target = this.pickTarget();
    const id = this.nextTracked++;
    const args = this.rng.chance(0.75) ? (validFor(this.rng, target.args, this.opts.targets.defs) as unknown[]) : this.randomArgs();
    const { bytes: options, credit } = this.options();
    const frame = M.array([M.anyUint(this.rng, TYPES.CALL), M.anyUint(this.rng, id), this.timeout(), M.str(target.name, this.rng.pick([undefined, undefined, 8, 16, 32] as const)), encodeArgs(args), ...(options ? [options] : [])]);
    return this.open(`call:${target.shape}`, frame, { id, target: target.name, shape: target.shape, credit: target.shape === 'unary' ? 0 : credit });
  }

  private open(kind: string, frame: Buffer, call: Pick<TrackedCall, 'id' | 'target' | 'shape' | 'credit' | 'expect'>): FuzzFrame {
    const tracked: TrackedCall = { ...call, inboxSent: 0, frame, loose: false, cancelled: false };
    this.opened.push(tracked);
    if (this.opened.length > 64) this.opened.shift();
    return { data: frame, kind, opens: tracked };
  }

  // ---- CALLs with a readable head but odd insides: each still gets exactly one final -----------

  private oddCall(): FuzzFrame[] {
    const kind = this.rng.weighted<string>(this.allowed([[8, 'bad-call'], [5, 'exotic-args'], [1.5, 'deep'], [2, 'lying-length'], [0.3, 'oversized'], [0.5, 'bomb']]));
    const id = this.nextTracked++;
    const idBytes = M.anyUint(this.rng, id);
    const made = kind === 'bad-call' ? this.badCall(idBytes)
      : kind === 'exotic-args' ? this.exoticArgs(idBytes)
      : kind === 'deep' ? this.deep(idBytes)
      : kind === 'lying-length' ? this.lyingCall(idBytes)
      : kind === 'oversized' ? this.oversizedCall(idBytes)
      : this.bomb(idBytes);
    return [this.open(kind, made.frame, { id, target: made.target, shape: made.shape, credit: made.shape === 'stream' || made.shape === 'bidi' ? (made.credit ?? DEFAULT_CREDIT) : 0, expect: made.expect })];
  }

  private pickTarget(): FuzzTarget {
    const shape = this.rng.weighted<Shape>([[6, 'unary'], [2, 'stream'], [2, 'bidi']]);
    const list = this.byShape[shape].length > 0 ? this.byShape[shape] : this.opts.targets.safe;
    return this.rng.pick(list);
  }

  private randomArgs(): unknown[] {
    return Array.from({ length: this.rng.size(4) }, () => anyValue(this.rng, 2));
  }

  /** A valid timeoutMs in some encoding: mostly none, sometimes short, sometimes beyond any timer. */
  private timeout(): Buffer {
    const r = this.rng;
    return r.weighted<() => Buffer>([
      [12, () => M.anyUint(r, 0)],
      [2, () => M.anyUint(r, r.int(1, 80))],
      [1, () => M.anyUint(r, r.int(200, 5000))],
      [1, () => M.anyUint(r, r.pick([2 ** 31 - 1, 2 ** 31, 2 ** 31 + 7, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 2 ** 53 - 1]))],
      [1, () => M.uint(r.pick([2n ** 63n, 2n ** 64n - 1n]), 64)],
      [1, () => M.float64(r.pick([0.25, 1.5, 10.001, 2 ** 31 + 0.5, 1e300, Infinity, 0]))],
      [0.5, () => M.float32(r.pick([0.5, 3, 1e30, Infinity]))],
    ])();
  }

  /** The options map (or nothing) and the stream credit it grants. */
  private options(): { bytes?: Buffer; credit: number } {
    const r = this.rng;
    return r.weighted<() => { bytes?: Buffer; credit: number }>([
      [5, () => ({ credit: DEFAULT_CREDIT })],
      [1, () => ({ bytes: M.nil(), credit: DEFAULT_CREDIT })],
      [1, () => ({ bytes: M.map([]), credit: DEFAULT_CREDIT })],
      [3, () => {
        const c = r.pick([0, 1, 2, 8, 64, 300, 100_000]);
        return { bytes: M.map([[M.str('credit'), M.anyUint(r, c)]]), credit: c };
      }],
      [1, () => ({ bytes: M.map([[M.str('credit'), M.nil()], [M.str(anyString(r)), encode(anyValue(r, 1))]]), credit: DEFAULT_CREDIT })],
    ])();
  }

  private cancel(id: number, kind: string): FuzzFrame {
    return { data: M.array([M.anyUint(this.rng, TYPES.CANCEL), M.anyUint(this.rng, id)]), kind };
  }

  private recent(): TrackedCall {
    // Mostly the latest calls, sometimes an old (likely finished) one.
    const n = this.opened.length;
    return this.rng.chance(0.8) ? this.opened[Math.max(0, n - 1 - this.rng.int(0, 3))]! : this.rng.pick(this.opened);
  }

  private creditFrame(id: number, n: number): Buffer {
    return M.array([M.anyUint(this.rng, TYPES.CREDIT), M.anyUint(this.rng, id), M.anyUint(this.rng, n)]);
  }

  private credit(): FuzzFrame[] {
    const call = this.recent();
    const n = this.rng.pick([0, 1, 3, 16, 128, 256, 5000]);
    if (call.shape !== 'unary') call.credit += n;
    return [{ data: this.creditFrame(call.id, n), kind: 'credit' }];
  }

  private creditFlood(): FuzzFrame[] {
    const call = this.recent();
    const count = this.rng.int(10, 60);
    const out: FuzzFrame[] = [];
    for (let i = 0; i < count; i++) {
      const n = this.rng.int(1, 1 << 20);
      if (call.shape !== 'unary') call.credit += n;
      out.push({ data: this.creditFrame(call.id, n), kind: 'credit-flood' });
    }
    return out;
  }

  private inbox(): FuzzFrame[] {
    const bidi = this.opened.filter((c) => c.shape === 'bidi');
    const call = bidi.length > 0 && this.rng.chance(0.9) ? this.rng.pick(bidi.slice(-4)) : this.recent();
    if (this.rng.chance(0.15)) return [{ data: M.array([M.anyUint(this.rng, TYPES.INBOX_END), M.anyUint(this.rng, call.id)]), kind: 'inbox-end' }];
    const target = this.opts.targets.all.find((t) => t.name === call.target);
    // Within the first inbox credit, unless this frame is meant to overflow it (the call then ends with PROTOCOL).
    const overflow = this.rng.chance(0.003);
    const count = overflow ? FIRST_INBOX_CREDIT + 1 : Math.min(this.rng.int(1, 8), FIRST_INBOX_CREDIT - call.inboxSent);
    const out: FuzzFrame[] = [];
    for (let i = 0; i < count; i++) {
      const item = this.rng.chance(0.85) && target?.inbox !== undefined ? validFor(this.rng, target.inbox, this.opts.targets.defs) : anyValue(this.rng, 2);
      out.push({ data: M.array([M.anyUint(this.rng, TYPES.INBOX_ITEM), M.anyUint(this.rng, call.id), safeEncode(item)]), kind: overflow ? 'inbox-overflow' : 'inbox' });
      call.inboxSent++;
    }
    return out;
  }

  /** A CALL reusing an id that may still be in flight: ignored with PROTOCOL (id 0) if it is; if it is not, it is a new call we do not track. Its id goes out of tracking either way. */
  private duplicateCall(): FuzzFrame {
    const call = this.opened[this.opened.length - 1]!;
    call.loose = true;
    return { data: M.array([M.uint(TYPES.CALL), M.uint(call.id), M.uint(0), M.str('add'), encode([1, 2])]), kind: 'duplicate-call' };
  }

  // ---- broken frames ------------------------------------------------------------

  private broken(): FuzzFrame[] {
    const r = this.rng;
    const kind = r.weighted<string>(this.allowed([
      [3, 'garbage'],
      [0.5, 'empty'],
      [2, 'text'],
      [8, 'bad-head'],
      [2, 'not-array'],
      [2, 'short'],
      [12, 'mutated'],
      [2, 'lying-length'],
      [0.1, 'oversized'],
    ]));
    return [{ data: this.brokenFrame(kind), kind }];
  }

  private brokenFrame(kind: string): Buffer | string {
    const r = this.rng;
    switch (kind) {
      case 'garbage': return r.bytes(r.size(120));
      case 'empty': return Buffer.alloc(0);
      case 'text': return r.chance(0.5) ? anyString(r) : this.validUntracked().toString('latin1');
      case 'bad-head': return M.array([this.oddType(), this.oddId(), ...Array.from({ length: r.size(4) }, () => (r.chance(0.5) ? encode(anyValue(r, 1)) : exoticRaw(r, 1)))]);
      case 'not-array': return r.pick([() => M.map([[M.str('type'), M.uint(1)]]), () => M.uint(1), () => M.str('CALL'), () => M.nil(), () => M.bin(r.bytes(8)), () => encode(anyValue(r, 2))])();
      case 'short': return r.pick([() => M.array([]), () => M.array([M.uint(1)]), () => M.array([M.uint(1), this.idBytes()]), () => M.array([M.uint(5), this.idBytes()]), () => M.array([M.uint(3), this.idBytes()]), () => M.array([M.uint(1), this.idBytes(), M.uint(0), M.str('add')])])();
      case 'mutated': return this.mutate(this.validUntracked());
      case 'lying-length': return this.lyingLength();
      case 'oversized': return this.oversizedInbox();
      default: throw new Error(`unknown broken kind ${kind}`);
    }
  }

  /** A call_id that is never tracked: ≥ 2^28 with two high bits set. */
  private untrackedId(): number {
    return (0xc000_0000 | (this.rng.u32() & 0x3fff_ffff)) >>> 0;
  }

  private idBytes(): Buffer {
    return M.anyUint(this.rng, this.untrackedId());
  }

  private oddType(): Buffer {
    const r = this.rng;
    return r.pick([
      () => M.uint(0), () => M.uint(r.int(6, 15)), () => M.uint(r.int(16, 22)), () => M.uint(r.int(40, 46)), () => M.uint(255), () => M.uint(2 ** 32),
      () => M.sint(-1, 'negfix'), () => M.float64(1), () => M.float64(2.5), () => M.str('1'), () => M.nil(), () => M.uint(r.int(1, 5), r.pick([8, 16, 32, 64] as const)),
    ])();
  }

  private oddId(): Buffer {
    const r = this.rng;
    return r.pick([
      () => M.uint(0), () => M.uint(0, 64), () => M.sint(-1, 'negfix'), () => M.sint(-(2 ** 31), 32), () => M.uint(2 ** 32), () => M.uint(2 ** 32 + 1),
      () => M.uint(2n ** 53n + 1n, 64), () => M.uint(2n ** 64n - 1n, 64), () => M.float64(1.5), () => M.float64(3), () => M.float32(7), () => M.str('7'),
      () => M.nil(), () => M.bool(true), () => this.idBytes(), () => M.array([M.uint(1)]),
    ])();
  }

  /** A CALL with one field wrong, and what the protocol says it gets. */
  private badCall(id: Buffer): Made {
    const r = this.rng;
    const target = this.pickTarget();
    const fields: Buffer[] = [M.uint(TYPES.CALL), id, M.uint(0), M.str(target.name), encodeArgs(validFor(r, target.args, this.opts.targets.defs) as unknown[])];
    let expect: string | undefined = 'PROTOCOL';
    let shape: Shape | 'error' = 'error';
    let name = target.name;
    let credit: number | undefined;
    const which = r.int(0, 5);
    if (which === 0) fields[2] = r.pick([() => M.sint(-1, 'negfix'), () => M.sint(-(2 ** 40), 64), () => M.float64(NaN), () => M.float64(-Infinity), () => M.float64(-0.5), () => M.str('10'), () => M.nil(), () => M.array([])])();
    else if (which === 1) {
      const bad = r.int(0, 10);
      if (bad <= 2) fields[3] = [M.uint(7), M.nil(), M.bin(Buffer.from(target.name))][bad]!;
      else {
        name = [ '', 'nope', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'exitNow ', 'x'.repeat(r.int(1000, 100_000))][bad - 3]!;
        fields[3] = M.str(name);
        expect = 'NOT_FOUND';
      }
    } else if (which === 2) fields[4] = r.pick([() => M.map([]), () => M.nil(), () => M.uint(1), () => M.str('args'), () => M.bin(Buffer.alloc(2))])();
    else if (which === 3) {
      const bad = r.int(0, 7);
      fields.push([M.array([]), M.uint(1), M.str('o'), M.map([[M.str('credit'), M.sint(-1, 'negfix')]]), M.map([[M.str('credit'), M.float64(1.5)]]), M.map([[M.str('credit'), M.str('9')]]), M.map([[M.str('credit'), M.uint(2n ** 60n, 64)]]), M.map([[M.uint(1), M.uint(1)]])][bad]!);
      // A huge credit is a non-negative integer, and unknown keys are ignored: those calls simply run.
      if (bad >= 6) (expect = undefined), (shape = target.shape), (credit = bad === 6 ? Infinity : undefined);
    } else if (which === 4) fields.push(M.nil(), ...Array.from({ length: r.int(1, 3) }, () => M.uint(1)));
    else fields.splice(r.int(2, 4), 1);
    return { frame: M.array(fields, r.pick(['fix', 16, 32] as const)), target: name, shape, expect, credit };
  }

  private exoticArgs(id: Buffer): Made {
    const target = this.pickTarget();
    const frame = M.array([M.uint(TYPES.CALL), id, M.uint(0), M.str(target.name), M.array(Array.from({ length: this.rng.size(4) }, () => exoticRaw(this.rng, 2)))]);
    return { frame, target: target.name, shape: target.shape };
  }

  /** A valid message of some client type with an untracked id, as raw material for mutations. */
  private validUntracked(): Buffer {
    const r = this.rng;
    const id = this.idBytes();
    const target = this.pickTarget();
    return r.weighted<() => Buffer>([
      [5, () => M.array([M.uint(TYPES.CALL), id, this.timeout(), M.str(target.name), encodeArgs(validFor(r, target.args, this.opts.targets.defs) as unknown[]), ...(r.chance(0.3) ? [M.map([[M.str('credit'), M.uint(r.int(0, 10))]])] : [])])],
      [1, () => M.array([M.uint(TYPES.CANCEL), id])],
      [1, () => M.array([M.uint(TYPES.CREDIT), id, M.uint(r.int(0, 100))])],
      [1, () => M.array([M.uint(TYPES.INBOX_ITEM), id, safeEncode(anyValue(r, 2))])],
      [1, () => M.array([M.uint(TYPES.INBOX_END), id])],
    ])();
  }

  /** One to three structure-aware changes to a valid frame. */
  private mutate(frame: Buffer): Buffer {
    const r = this.rng;
    let out: Buffer = Buffer.from(frame);
    const rounds = r.int(1, 3);
    for (let i = 0; i < rounds && out.length > 0; i++) {
      const at = r.int(0, out.length - 1);
      out = r.pick<() => Buffer>([
        () => out.subarray(0, r.int(0, out.length - 1)), // truncate
        () => { const o = Buffer.from(out); for (let k = r.int(1, 8); k > 0; k--) o[r.int(0, o.length - 1)]! ^= 1 << r.int(0, 7); return o; }, // bit flips
        () => { const o = Buffer.from(out); o[at] = r.pick([0x00, 0x7f, 0x80, 0x90, 0xa0, 0xc0, 0xc1, 0xc4, 0xc7, 0xcb, 0xcf, 0xd3, 0xd4, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xff]); return o; }, // a byte replaced by an interesting one
        () => Buffer.concat([out.subarray(0, at), r.bytes(r.int(1, 16)), out.subarray(at)]), // bytes inserted
        () => Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + r.int(1, 8)))]), // bytes deleted
        () => Buffer.concat([out, out.subarray(at)]), // a tail repeated
        () => { const o = Buffer.from(out); if ((o[0]! & 0xf0) === 0x90) o[0] = 0x90 | ((o[0]! + r.pick([1, 2, 15, -1])) & 0x0f); return o; }, // element count changed
        () => { const o = Buffer.from(out); if ((o[0]! & 0xf0) === 0x90) o[0] = 0x80 | (o[0]! & 0x0f); return o; }, // array header → map header
        () => Buffer.concat([out.subarray(0, at), exoticRaw(r, 1), out.subarray(at)]), // an exotic value spliced in
      ])();
    }
    return out;
  }

  /** Nesting from a few dozen to ~1000 levels, in an argument of a target that validates it or echoes it. Past 512 levels the protocol promises PROTOCOL. */
  private deep(id: Buffer): Made {
    const r = this.rng;
    const depth = r.pick([32, 100, 300, 511, 513, 800, 1000]);
    const useTree = r.chance(0.4);
    let value: Buffer;
    if (useTree) {
      // Tree { value, children: Tree[] }, the leaf's value sometimes of the wrong type (validation then walks it all)
      const open = Buffer.concat([M.mapHeader(2), M.str('value'), M.uint(1), M.str('children'), M.arrayHeader(1)]);
      const leaf = Buffer.concat([M.mapHeader(2), M.str('value'), r.chance(0.5) ? M.str('bad') : M.uint(1), M.str('children'), M.arrayHeader(0)]);
      value = Buffer.concat([...Array.from({ length: Math.floor(depth / 2) }, () => open), leaf]);
    } else {
      const opener = () => (r.chance(0.7) ? M.arrayHeader(1) : Buffer.concat([M.mapHeader(1), M.str('k')]));
      value = Buffer.concat([...Array.from({ length: depth }, opener), M.uint(1)]);
    }
    const target = useTree ? 'treeSum' : r.pick(['echo', 'concat', 'hold']);
    // The message and the argument list are two levels more; around 512 the count is the implementation's business.
    return { frame: M.array([M.uint(TYPES.CALL), id, M.uint(0), M.str(target), M.array([value])]), target, shape: depth >= 600 ? 'error' : 'unary', expect: depth >= 600 ? 'PROTOCOL' : undefined };
  }

  /** A CALL whose head reads fine but whose target or arguments promise more bytes than follow: PROTOCOL. */
  private lyingCall(id: Buffer): Made {
    const r = this.rng;
    const head = [M.uint(1), id, M.uint(0)];
    const frame = r.chance(0.5)
      ? Buffer.concat([M.arrayHeader(5), ...head, M.str('echo'), M.arrayHeader(1), this.liar(), r.bytes(r.size(16))])
      : Buffer.concat([M.arrayHeader(5), ...head, this.liar(), r.bytes(4)]);
    return { frame, target: 'echo', shape: 'error', expect: 'PROTOCOL' };
  }

  private liar(): Buffer {
    return this.rng.pick([() => M.arrayHeader(0xffff_ffff, 32), () => M.mapHeader(0xffff_ffff, 32), () => M.strHeader(0x7fff_ffff, 32), () => M.binHeader(0xffff_fff0, 32), () => Buffer.from([0xc9, 0x7f, 0xff, 0xff, 0xff, 0x74]), () => M.arrayHeader(65535, 16)])();
  }

  private lyingLength(): Buffer {
    const r = this.rng;
    return r.pick([
      () => Buffer.concat([this.liar(), r.bytes(r.size(16))]),
      () => Buffer.concat([M.arrayHeader(3), M.uint(3), this.idBytes(), this.liar()]),
      () => Buffer.concat([M.arrayHeader(0xffff_ffff, 32), M.uint(1), this.idBytes()]),
    ])();
  }

  /** Just past the message limit: PAYLOAD_TOO_LARGE. Rarely past twice it: the socket closes (1009) and nothing is checked. */
  private oversizedCall(id: Buffer): Made {
    const r = this.rng;
    const huge = r.chance(0.1);
    const size = huge ? 2 * this.opts.maxPayload + r.int(2048, 8192) : this.opts.maxPayload + r.int(1, this.opts.maxPayload / 2);
    const frame = M.array([M.uint(TYPES.CALL), id, M.uint(0), M.str('bytesLength'), M.array([M.bin(Buffer.alloc(size), 32)])]);
    return { frame, target: 'bytesLength', shape: 'error', expect: 'PAYLOAD_TOO_LARGE' };
  }

  private oversizedInbox(): Buffer {
    return M.array([M.uint(TYPES.INBOX_ITEM), this.idBytes(), M.bin(Buffer.alloc(this.opts.maxPayload + this.rng.int(1, 1024)), 32)]);
  }

  /** Many empty arrays or maps inside the limit: cheap on the wire, dozens of bytes each once decoded. */
  private bomb(id: Buffer): Made {
    const r = this.rng;
    const n = Math.floor(this.opts.maxPayload * r.pick([0.25, 0.5, 0.9]));
    const body = Buffer.concat([M.arrayHeader(n, 32), Buffer.alloc(n, r.chance(0.5) ? 0x90 : 0x80)]);
    const target = r.pick(['echo', 'hold', 'concat']);
    return { frame: M.array([M.uint(TYPES.CALL), id, M.uint(0), M.str(target), M.array([body, M.uint(r.int(0, 300))])]), target, shape: 'unary' };
  }
}

interface Made {
  frame: Buffer;
  target: string;
  shape: Shape | 'error';
  expect?: string;
  /** The stream credit the CALL grants, when not the default (a credit beyond 2^53 counts as unlimited). */
  credit?: number;
}

function encodeArgs(args: unknown[]): Buffer {
  try {
    return encode(args);
  } catch {
    return encode([]);
  }
}

function safeEncode(v: unknown): Buffer {
  try {
    return encode(v);
  } catch {
    return encode(null);
  }
}
