/**
 * The transcript matcher and loader on their own: a pattern never matches
 * vacuously, malformed transcripts are refused before anything is sent, and
 * values are written as the exact msgpack bytes the notation names.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeWire, encodeWire } from './msgpack.js';
import { checkPattern, match, toWire } from './notation.js';
import { assignable } from './replay.js';
import { parseTranscript } from './transcript.js';

const w = (hex: string) => decodeWire(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
const bytes = (value: unknown) => encodeWire(toWire(value)).toString('hex');
const matches = (p: unknown, hex: string) => match(p, w(hex)) === null;

test('an exact map fails on an extra key, a missing key and a duplicate key; $has allows extra keys', () => {
  assert.ok(matches({ a: 1, b: 2 }, '82 a161 01 a162 02'));
  assert.not.ok(matches({ a: 1 }, '82 a161 01 a162 02'));
  assert.not.ok(matches({ a: 1, c: 3 }, '82 a161 01 a162 02'));
  assert.not.ok(matches({ a: 1 }, '82 a161 01 a161 01'));
  assert.ok(matches({ $has: { a: 1 } }, '82 a161 01 a162 02'));
  assert.not.ok(matches({ $has: { b: { $absent: null } } }, '82 a161 01 a162 02'));
  assert.not.ok(matches({}, '81 a161 01'), 'an empty map pattern must not match a non-empty map');
});

test('keys of Object.prototype are not mistaken for pattern keys', () => {
  assert.not.ok(matches({ a: 1 }, '82 a161 01 a8 746f537472696e67 01'), '"toString" is an extra key');
  assert.not.ok(matches({ a: 1 }, '82 a161 01 a9 5f5f70726f746f5f5f 01'), '"__proto__" is an extra key');
  assert.ok(matches(JSON.parse('{"__proto__": 1}'), '81 a9 5f5f70726f746f5f5f 01'));
});

test('arrays have exact lengths: an empty pattern matches only an empty array', () => {
  assert.ok(matches([], '90'));
  assert.not.ok(matches([], '91 01'));
  assert.not.ok(matches([1], '92 01 02'));
  assert.not.ok(matches([1, 2], '91 01'));
});

test('integers, floats, strings and bin are told apart, and encodings are checked when asked', () => {
  assert.not.ok(matches(1, 'cb 3ff0000000000000'), 'an integer pattern is not a float');
  assert.not.ok(matches({ $f64: 1 }, '01'), 'a float pattern is not an integer');
  assert.not.ok(matches({ $f64: 1 }, 'ca 3f800000'), 'f64 is not f32');
  assert.ok(matches({ $f32: 1.1 }, 'ca 3f8ccccd'), 'f32 compares after rounding to f32');
  assert.not.ok(matches({ $f64: '-0' }, 'cb 0000000000000000'), '-0 is not 0');
  assert.ok(matches({ $f64: 'NaN' }, 'cb 7ff8000000000000'));
  assert.ok(matches(5, 'd3 0000000000000005'), 'a plain integer matches any encoding');
  assert.not.ok(matches({ $int: '5', as: 'i64' }, '05'));
  assert.ok(matches({ $int: '5', as: ['i64', 'u64'] }, 'cf 0000000000000005'));
  assert.ok(matches({ $int: '18446744073709551615' }, 'cf ffffffffffffffff'));
  assert.not.ok(matches('hi', 'c4 02 6869'), 'a string is not bin');
  assert.not.ok(matches({ $bin: '6869' }, 'a2 6869'), 'bin is not a string');
  assert.ok(matches('hi', 'd9 02 6869'), 'str8 is a string like fixstr');
  assert.not.ok(matches({ $regex: '.' }, '01'));
  assert.not.ok(matches({ $regex: '.' }, 'a2 eda0'), 'invalid UTF-8 is no string for $regex');
  assert.ok(matches({ $strhex: 'eda0' }, 'a2 eda0'));
});

test('tags: undefined, ext, timestamps in every layout, bigints of any length, $oneOf, $any kinds', () => {
  assert.ok(matches({ $undefined: null }, 'd4 00 00'));
  assert.not.ok(matches({ $undefined: null }, 'c0'));
  for (const hex of ['d6ff 00000001', 'd7ff 0000000000000001', 'c70cff 00000000 0000000000000001']) assert.ok(matches({ $timestamp: { sec: 1, nsec: 0 } }, hex), hex);
  assert.not.ok(matches({ $timestamp: { sec: 2, nsec: 0 } }, 'd6ff 00000001'));
  assert.ok(matches({ $bigext: '-1' }, 'd5 42 ffff'));
  assert.ok(matches({ $bigext: '1180591620717411303424' }, 'd8 42 00000000000000400000000000000000'));
  assert.not.ok(matches({ $bigext: '1' }, 'd4 41 01'), 'another ext type');
  assert.not.ok(matches({ $oneOf: [1, 2] }, '03'));
  assert.ok(matches({ $oneOf: [1, 3] }, '03'));
  assert.not.ok(matches({ $any: 'int' }, 'cb 0000000000000000'));
  assert.ok(matches({ $any: 'number' }, 'cb 0000000000000000'));
  assert.not.ok(matches({ $any: 'string' }, 'c4 00'));
  assert.not.ok(matches({ $absent: null }, 'c0'), '$absent outside a map matches nothing');
});

test('an unordered group gives each frame its own pattern', () => {
  assert.ok(assignable([w('01'), w('02')], [{ $any: 'int' }, 1]), 'finds the assignment a greedy match would miss');
  assert.not.ok(assignable([w('01'), w('01')], [1, 2]), 'one pattern cannot take two frames');
  assert.not.ok(assignable([w('03')], [1, 2]));
});

test('values are written as the exact bytes the notation names', () => {
  assert.is(bytes([1, 'a', null, true]), '9401a161c0c3');
  assert.is(bytes({ $int: '7', as: 'u64' }), 'cf0000000000000007');
  assert.is(bytes({ $int: '-1', as: 'i16' }), 'd1ffff');
  assert.is(bytes(200), 'ccc8');
  assert.is(bytes(-33), 'd0df');
  assert.is(bytes({ $f64: 1 }), 'cb3ff0000000000000');
  assert.is(bytes({ $f32: 1.5 }), 'ca3fc00000');
  assert.is(bytes({ $undefined: null }), 'd40000');
  assert.is(bytes({ $ext: 116, hex: '03 0100' }), 'c70374030100');
  assert.is(bytes({ $ext: -1, hex: '00000001' }), 'd6ff00000001');
  assert.is(bytes({ $timestamp: { sec: 1, nsec: 5 } }), 'd7ff0000001400000001');
  assert.is(bytes({ $map: [[1, 'x']] }), '8101a178');
  assert.is(bytes([{ $raw: '91c0' }]), '9191c0');
  assert.is(bytes({ $array_of: 0, count: 3 }), '93000000');
  assert.is(bytes({ $array_of: [], count: 16 }), `dc0010${'90'.repeat(16)}`);
  assert.is(bytes({ $bin: '' }), 'c400');
  assert.is(bytes('x'.repeat(32)), `d920${'78'.repeat(32)}`);
});

test('malformed values and patterns are refused, naming where', () => {
  assert.throws(() => toWire(1.5), /plain number must be an integer/);
  assert.throws(() => toWire({ $int: '300', as: 'u8' }), /does not fit u8/);
  assert.throws(() => toWire({ $int: '5', bogus: 1 }), /takes no key "bogus"/);
  assert.throws(() => toWire('\ud800'), /lone surrogate/);
  assert.throws(() => toWire({ a: 1, $has: {} }), /unknown tag|\$-key/);
  assert.throws(() => checkPattern({ $nope: 1 }), /unknown tag \$nope/);
  assert.throws(() => checkPattern({ $any: 'thing' }), /\$any takes one of/);
  assert.throws(() => checkPattern({ $oneOf: [] }), /non-empty list/);
  assert.throws(() => checkPattern([1, { x: { $f64: 'big' } }]), /\$\[1\]\.x/);
});

test('malformed transcripts are refused before anything is sent', () => {
  const t = (steps: unknown[], extra: Record<string, unknown> = {}) => () => parseTranscript({ title: 't', steps, ...extra }, 'x.json');
  const open = { connect: 'a' };
  assert.throws(t([open, { expect: 'a', frames: [] }]), /non-empty list/);
  assert.throws(t([open, { expect: 'a', frames: [1], bogus: 1 }]), /unknown key "bogus"/);
  assert.throws(t([open, { expect: 'b', frames: [1] }]), /not opened/);
  assert.throws(t([open, { send: 'a', frame: 1 }]), /checks nothing/);
  assert.throws(t([open, { send: 'a', frame: 1, hex: '00' }, { expect: 'a', frames: [1] }]), /exactly one of frame, hex, text/);
  assert.throws(t([open, { signal: 'SIGTERM' }, { expect: 'a', frames: [1] }]), /server of its own/);
  assert.throws(t([open, { expect: 'a', frames: [{ $repeat: 1, count: 0 }] }]), /at least 1/);
  assert.throws(t([open, { expect: 'a', frames: [{ $unordered: [{ $unordered: [1] }] }] }]), /cannot be nested/);
  assert.throws(t([open, { expect: 'a', frames: [1] }], { extra: 1 }), /unknown key "extra"/);
  const ok = parseTranscript({ title: 't', steps: [open, { expect: 'a', frames: [1, { $repeat: 2, count: 2 }, { $unordered: [3, { $repeat: 4, count: 2 }] }] }] }, 'x.json');
  const step = ok.steps[1]!;
  assert.equal(step.kind === 'expect' && step.slots, [{ one: 1 }, { one: 2 }, { one: 2 }, { group: [3, 4, 4] }]);
});

test.run();
