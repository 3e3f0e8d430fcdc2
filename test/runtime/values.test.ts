/**
 * Values on the wire (docs/protocol.md, "Serialization rules"): typed arrays
 * and DataView round-trip exactly and carry only their own bytes; the values
 * msgpackr changes in transit change as the document says.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../runtime/wire/codec.js';
import { duplex } from '../support/duplex.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('Int16Array [1, -2, 300] is ext 0x74 kind 3 with its six little-endian bytes, nothing else', () => {
  assert.is(hex(encode(new Int16Array([1, -2, 300]))), 'c70774030100feff2c01');
});

test('a typed array view encodes only its own bytes, not the rest of its buffer (no memory of the process leaks)', () => {
  const buffer = new ArrayBuffer(64);
  new Uint8Array(buffer).fill(0xee); // stands for whatever else lives in that memory
  const view = new Int16Array(buffer, 8, 2);
  view.set([5, 6]);
  assert.is(hex(encode(view)), 'c705740305000600');
  assert.not.ok(hex(encode([view, new Float32Array(buffer, 16, 1)])).includes('eeee' + 'eeee' + 'eeee'), 'no foreign bytes');
});

test('every typed array kind and DataView round-trips with the same kind and elements', () => {
  const values = [
    new Int8Array([-128, 127]),
    new Uint8ClampedArray([0, 255]),
    new Int16Array([-32768, 32767]),
    new Uint16Array([65535]),
    new Int32Array([-(2 ** 31), 2 ** 31 - 1]),
    new Uint32Array([2 ** 32 - 1]),
    new Float32Array([1.5, -0.25]),
    new Float64Array([Math.PI, -0, Infinity]),
    new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    new BigUint64Array([2n ** 64n - 1n]),
  ];
  for (const v of values) {
    const back = decode(encode(v)) as typeof v;
    assert.is(back.constructor, v.constructor, v.constructor.name);
    assert.equal(Array.from(back as ArrayLike<unknown>), Array.from(v as ArrayLike<unknown>), v.constructor.name);
  }
  const view = new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2);
  const back = decode(encode(view)) as DataView;
  assert.instance(back, DataView);
  assert.equal([back.byteLength, back.getUint8(0), back.getUint8(1)], [2, 2, 3]);
});

test('Uint8Array and Buffer stay msgpack bin and arrive as Buffer', () => {
  assert.is(hex(encode(new Uint8Array([1, 2]))), 'c4020102');
  assert.ok(Buffer.isBuffer(decode(encode(new Uint8Array([1])))));
});

test('typed arrays travel through a call both ways unchanged', async () => {
  const h = duplex({ echo: { fn: (v: unknown) => v } });
  const v = [new Float32Array([0.5, 2]), { inner: new BigUint64Array([7n]) }, new DataView(new Uint8Array([9]).buffer)];
  const back = (await h.client.call('echo', [v])) as [Float32Array, { inner: BigUint64Array }, DataView];
  assert.instance(back[0], Float32Array);
  assert.equal(Array.from(back[0]), [0.5, 2]);
  assert.equal(Array.from(back[1].inner), [7n]);
  assert.is(back[2].getUint8(0), 9);
  await h.close();
});

test('values msgpackr changes in transit change as documented: __proto__ keys, -0, lone surrogates', () => {
  const o = decode(encode(JSON.parse('{"__proto__": {"x": 1}, "a": 2}'))) as Record<string, unknown>;
  assert.equal(Object.keys(o), ['__proto_', 'a']);
  assert.is(Object.getPrototypeOf(o), Object.prototype, 'the prototype is never set from data');
  assert.ok(Object.is(decode(encode(-0)), 0));
  assert.is(hex(encode('a\ud800b')), 'a561eda08062', 'the code unit as three bytes (not valid UTF-8)');
  assert.is(decode(encode('a\ud800b')), 'a\ufffd\ufffd\ufffdb');
});

test('bigints beyond 64 bits use ext 0x42, two\'s complement big-endian', () => {
  assert.is(hex(encode(2n ** 70n)), 'd84200000000000000400000000000000000');
  assert.is(decode(encode(-(2n ** 100n))), -(2n ** 100n));
  assert.is(decode(Buffer.from('c7034201ffff', 'hex')), 0x1ffffn, 'any length is read');
});

test('ext types outside the protocol (Set, Error, RegExp, structured-clone references) are refused, never decoded', () => {
  for (const [hexBytes, name] of [['d47300', 'Set'], ['d46500', 'Error'], ['d47800', 'RegExp'], ['d6690000000190', 'structured-clone id'], ['d67000000001', 'structured-clone pointer']]) {
    assert.throws(() => decode(Buffer.from(hexBytes, 'hex')), /not part of the Agentix protocol|disabled/, name);
  }
});

test.run();
