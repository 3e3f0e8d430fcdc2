/** The server ↔ worker pipe framing: frames survive any chunking, large frames are joined once, bad lengths are refused. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'node:net';
import { FrameReader, FrameWriter } from '../../runtime/wire/framing.js';

/** A pipe frame as docs/protocol.md ("Inside the sandbox") lays it out. */
const frame = (conn: number, body: Buffer, seq = 0, at = 0) => {
  const head = Buffer.alloc(20);
  head.writeUInt32LE(body.length + 16, 0);
  head.writeUInt32LE(conn, 4);
  head.writeUInt32LE(seq, 8);
  head.writeDoubleLE(at, 12);
  return Buffer.concat([head, body]);
};

test('frames come out whole whatever the chunk boundaries, including one byte at a time', () => {
  const stream = Buffer.concat([frame(9, Buffer.from('xyz')), frame(10, Buffer.alloc(0)), frame(11, Buffer.from('q'))]);
  for (const size of [1, 2, 3, 7, stream.length]) {
    const got: [number, string][] = [];
    const reader = new FrameReader(100, (c, m) => got.push([c, m.toString()]));
    for (let i = 0; i < stream.length; i += size) reader.push(stream.subarray(i, i + size));
    assert.equal(got, [[9, 'xyz'], [10, ''], [11, 'q']], `chunks of ${size}`);
  }
});

test('a 60 MB frame split into 64 KiB reads arrives intact between small ones', () => {
  const big = Buffer.alloc(60_000_000, 7);
  big[big.length - 1] = 9;
  const stream = Buffer.concat([frame(1, Buffer.from('a')), frame(2, big), frame(3, Buffer.from('b'))]);
  const got: [number, number, number][] = [];
  const reader = new FrameReader(100_000_000, (c, m) => got.push([c, m.length, m[m.length - 1]!]));
  for (let off = 0; off < stream.length; off += 65536) reader.push(stream.subarray(off, off + 65536));
  assert.equal(got, [[1, 1, 97], [2, 60_000_000, 9], [3, 1, 98]]);
});

test('the sequence number and deadline of a frame come out with it', () => {
  const got: [number, string, number, number][] = [];
  const reader = new FrameReader(100, (c, m, seq, at) => got.push([c, m.toString(), seq, at]));
  reader.push(Buffer.concat([frame(3, Buffer.from('call'), 4_000_000_000, 1_700_000_000_123.5), frame(4, Buffer.from('x'))]));
  assert.equal(got, [[3, 'call', 4_000_000_000, 1_700_000_000_123.5], [4, 'x', 0, 0]]);
});

test('a length beyond the limit is refused', () => {
  const reader = new FrameReader(10, () => undefined);
  assert.throws(() => reader.push(frame(1, Buffer.alloc(20))), /out of bounds/);
});

/** A socket that records each write (the pipe's syscalls, as FrameWriter makes them). */
function recordingSocket(): { socket: Socket; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const socket = { destroyed: false, writableNeedDrain: false, writableLength: 0, cork() {}, uncork() {}, write: (b: Buffer) => (writes.push(Buffer.from(b)), true) };
  return { socket: socket as unknown as Socket, writes };
}
const framesIn = (writes: Buffer[]) => {
  const got: number[] = [];
  const r = new FrameReader(1 << 20, (_conn, message) => got.push(message[0]!));
  for (const w of writes) r.push(w);
  return got;
};

test('frames written to gather leave in one write when the turn of the event loop ends', async () => {
  const { socket, writes } = recordingSocket();
  const w = new FrameWriter(socket, 'now');
  for (let i = 0; i < 50; i++) w.write(1, Uint8Array.of(i), undefined, 'turn');
  await Promise.resolve();
  assert.is(writes.length, 0, 'nothing may leave before the turn ends');
  await new Promise((r) => setImmediate(r));
  assert.is(writes.length, 1);
  assert.equal(framesIn(writes), [...Array(50).keys()]);
});

test('a frame written to leave now goes before the turn ends and takes the gathered ones along, in order', async () => {
  const { socket, writes } = recordingSocket();
  const w = new FrameWriter(socket, 'now');
  w.write(1, Uint8Array.of(1), undefined, 'turn');
  w.write(1, Uint8Array.of(2), undefined, 'turn');
  w.write(1, Uint8Array.of(3));
  await Promise.resolve();
  assert.is(writes.length, 1);
  assert.equal(framesIn(writes), [1, 2, 3]);
  await new Promise((r) => setImmediate(r));
  assert.is(writes.length, 1, 'the turn ends with nothing left to write');
});

test('with leaveAfter, each leaveAfter-th frame to leave now takes the batch out at once, in order; the rest leave after the code returns', async () => {
  const { socket, writes } = recordingSocket();
  const w = new FrameWriter(socket, 'now', 48);
  for (let i = 0; i < 47; i++) w.write(1, Uint8Array.of(i));
  assert.is(writes.length, 0, 'below leaveAfter nothing leaves while the code runs');
  w.write(1, Uint8Array.of(47));
  assert.is(writes.length, 1, 'the 48th frame takes the batch out at once');
  for (let i = 48; i < 100; i++) w.write(1, Uint8Array.of(i));
  assert.is(writes.length, 2, 'the count starts again after each write');
  await Promise.resolve();
  assert.is(writes.length, 3, 'the last 4 leave on the microtask');
  assert.equal(framesIn(writes), [...Array(100).keys()]);
});

test('frames gathered for the turn do not count towards leaveAfter', async () => {
  const { socket, writes } = recordingSocket();
  const w = new FrameWriter(socket, 'now', 4);
  for (let i = 0; i < 10; i++) w.write(1, Uint8Array.of(i), undefined, 'turn');
  await Promise.resolve();
  assert.is(writes.length, 0);
  await new Promise((r) => setImmediate(r));
  assert.is(writes.length, 1);
});

test.run();
