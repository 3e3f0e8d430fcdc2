/**
 * Values a client crafts to make the worker spend what it should not: time
 * (a few hundred bytes that decode to a shared-reference graph whose encoding
 * never ends), stack (nesting the validator recurses through) and memory
 * (megabytes of empty arrays and maps, each a heap object once decoded, kept
 * alive by calls in flight or a bidi inbox). Each must end its own call with
 * an error, or be bounded, and never cost another client its calls or the
 * worker its life. Also the thrown values whose inspection throws.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, RuntimeClient } from '../../index.js';
import { encode } from '../../runtime/wire/codec.js';
import * as M from '../support/fuzz/msgpack-raw.js';
import { MemorySampler, mib } from '../support/fuzz/proc.js';
import { Recorder } from '../support/fuzz/raw.js';
import { serveFuzz, type FuzzServed } from '../support/fuzz/serve-fuzz.js';

const hostile = suite('hostile values');
let server: FuzzServed;
let other: RuntimeClient;

hostile.before.each(async () => {
  server = await serveFuzz();
  other = await RuntimeClient.connect(server.url, { token: server.token });
  await other.call('add', [0, 0]);
});
hostile.after.each(async () => {
  await other?.close();
  await server?.stop();
});

const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
const callFrame = (id: number, target: string, args: Buffer) => M.array([M.uint(1), M.uint(id), M.uint(0), M.str(target), args]);
const codeOf = (m: unknown[] | undefined) => (m?.[0] === 17 ? (m[2] as { code: string }).code : m?.[0] === 16 ? 'RESULT' : String(m?.[0]));

/** Another client's call answered (bounded wait), and the worker not replaced. */
async function othersUnharmed(): Promise<void> {
  assert.is(await other.call('add', [2, 3], { timeoutMs: 10_000 }).catch((e: RemoteError) => e.code), 5, 'a call on another connection is answered');
  assert.is(server.workers().length, 1, 'the worker was not replaced');
}

hostile('a CALL of 514 bytes using msgpack reference extensions (a DAG 40 levels deep) cannot occupy the worker', async () => {
  // msgpackr's structured-clone extensions: 0x69 names the next value, 0x70 points to a named one.
  // Level k is [level k+1, pointer to level k+1]: 2^40 leaves once anything walks it.
  const depth = 40;
  const parts: Buffer[] = [];
  for (let k = 1; k < depth; k++) parts.push(M.ext(0x69, u32(k)), M.arrayHeader(2));
  parts.push(M.ext(0x69, u32(depth)), M.uint(1));
  for (let k = depth - 1; k >= 1; k--) parts.push(M.ext(0x70, u32(k + 1)));
  const rec = await Recorder.open(server.url, server.token);
  try {
    rec.send(callFrame(7, 'echo', M.array([Buffer.concat(parts)])));
    assert.ok(await rec.until(() => rec.finals(7).length === 1, 10_000), 'the call got its final');
    assert.is(codeOf(rec.finals(7)[0]), 'PROTOCOL', 'references are not part of the protocol (docs/protocol.md, "Serialization rules")');
    await othersUnharmed();
  } finally {
    rec.close();
  }
});

hostile('a CALL nested deeper than 512 levels is refused with PROTOCOL however small it is', async () => {
  const rec = await Recorder.open(server.url, server.token);
  try {
    // 600 nested one-element arrays: 602 bytes.
    rec.send(callFrame(8, 'echo', M.array([Buffer.concat([Buffer.alloc(600, 0x91), M.uint(1)])])));
    assert.ok(await rec.until(() => rec.finals(8).length === 1), 'the call got its final');
    assert.is(codeOf(rec.finals(8)[0]), 'PROTOCOL');
    await othersUnharmed();
  } finally {
    rec.close();
  }
});

/** Tree { value, children: Tree[] } `levels` deep whose innermost value is a string: validation walks all of it to report the error. */
function deepInvalidTree(levels: number): Buffer {
  const open = Buffer.concat([M.mapHeader(2), M.str('value'), M.uint(1), M.str('children'), M.arrayHeader(1)]);
  const leaf = Buffer.concat([M.mapHeader(2), M.str('value'), M.str('bad'), M.str('children'), M.arrayHeader(0)]);
  return Buffer.concat([...Array.from({ length: levels }, () => open), leaf]);
}

hostile('an argument whose validation overflows the stack ends its call with an error, on a cold and on a warm target, and the worker lives', async () => {
  const rec = await Recorder.open(server.url, server.token);
  try {
    // Cold: the first call of treeSum (validators compiled on the way). 500 levels: about 9 KB.
    rec.send(callFrame(9, 'treeSum', M.array([deepInvalidTree(500)])));
    assert.ok(await rec.until(() => rec.finals(9).length === 1), 'the cold call got its final');
    assert.ok(['PROTOCOL', 'INVALID_ARGUMENT'].includes(codeOf(rec.finals(9)[0])), `cold: ${JSON.stringify(rec.finals(9)[0])}`);
    // Warm: treeSum is ready now, the same value again at 400 levels.
    rec.send(callFrame(10, 'treeSum', M.array([deepInvalidTree(400)])));
    assert.ok(await rec.until(() => rec.finals(10).length === 1), 'the warm call got its final');
    assert.ok(['PROTOCOL', 'INVALID_ARGUMENT'].includes(codeOf(rec.finals(10)[0])), `warm: ${JSON.stringify(rec.finals(10)[0])}`);
    await othersUnharmed();
  } finally {
    rec.close();
  }
});

hostile('a CALL whose validation outlasts the hang grace, with a short deadline, does not get the worker killed under another client\'s call', async () => {
  await server.stop();
  // A grace of 200 ms: the validation below takes longer than that on any machine this runs on.
  server = await serveFuzz({ AGENTIX_HANG_GRACE_MS: '200' });
  await other.close();
  other = await RuntimeClient.connect(server.url, { token: server.token });
  const rec = await Recorder.open(server.url, server.token);
  try {
    rec.send(callFrame(1, 'concat', M.array([M.array([M.str('warm')])])));
    assert.ok(await rec.until(() => rec.finals(1).length === 1), 'warm-up');
    const running = other.call('hold', ['x', 2000]).then((v) => v, (e: RemoteError) => e.code);
    await new Promise((r) => setTimeout(r, 200));
    // concat(parts: string[]) given 3 MiB of empty maps (within every limit): each of the 3M items fails the schema.
    rec.send(M.array([M.uint(1), M.uint(2), M.uint(300), M.str('concat'), M.array([emptyMaps(3 * 1024 * 1024)])]));
    assert.ok(await rec.until(() => rec.finals(2).length === 1, 30_000), 'the big call got its final');
    assert.is(await running, 'string', 'the call running beside it finished');
    assert.is(server.workers().length, 1, 'the worker was not killed: user code never ran, the runtime itself was busy');
  } finally {
    rec.close();
  }
});

/** An array of `bytes` empty maps: one byte each on the wire, a heap object each once decoded. */
const emptyMaps = (bytes: number) => Buffer.concat([M.arrayHeader(bytes, 32), Buffer.alloc(bytes, 0x80)]);

hostile('empty maps held by calls in flight (8 × 3 MiB, each within the per-message decoded budget) do not grow the worker past 1 GiB', async () => {
  const rec = await Recorder.open(server.url, server.token);
  const memory = new MemorySampler(server.pid, 50);
  try {
    const bomb = emptyMaps(3 * 1024 * 1024);
    for (let i = 1; i <= 8; i++) rec.send(callFrame(100 + i, 'hold', M.array([bomb, M.uint(3000)])));
    // Each either runs (holding its value for 3 s) or is refused; either way each gets one final.
    assert.ok(await rec.until(() => Array.from({ length: 8 }, (_, i) => rec.finals(101 + i).length).every((n) => n === 1), 60_000), 'every call got its final');
    const peak = memory.stop().workerPeak;
    assert.ok(peak < 1024 * 1024 * 1024, `worker RSS peaked at ${mib(peak)} MiB for 24 MiB of messages`);
    await othersUnharmed();
  } finally {
    memory.stop();
    rec.close();
  }
});

hostile('empty maps waiting in a bidi inbox (32 items × 1 MiB, within its credit of 64) do not grow the worker past 1 GiB', async () => {
  const rec = await Recorder.open(server.url, server.token);
  const memory = new MemorySampler(server.pid, 50);
  try {
    // echoInbox yields each item back; with stream credit 0 it never gets to take them, so they wait in its inbox.
    rec.send(encode([1, 1, 0, 'echoInbox', [], { credit: 0 }]));
    assert.ok(await rec.until(() => rec.about(1).some((m) => m[0] === 20)), 'the first inbox credit arrived');
    const item = Buffer.concat([M.arrayHeader(3), M.uint(3), M.uint(1), emptyMaps(1024 * 1024 - 32)]);
    for (let i = 0; i < 32; i++) rec.send(item);
    // The worker takes a connection's frames in order: this call's answer comes once every item was decoded.
    rec.send(encode([1, 2, 0, 'add', [2, 3]]));
    assert.ok(await rec.until(() => rec.finals(2).length === 1, 60_000), 'the call behind the items got its final');
    const peak = memory.stop().workerPeak;
    assert.ok(peak < 1024 * 1024 * 1024, `worker RSS peaked at ${mib(peak)} MiB for 32 MiB of inbox items`);
    await othersUnharmed();
  } finally {
    memory.stop();
    rec.close();
  }
});

hostile('thrown Proxies and errors whose fields throw end their call with REMOTE, on a cold and a warm target', async () => {
  const c = await RuntimeClient.connect(server.url, { token: server.token });
  try {
    for (const round of ['cold', 'warm']) {
      const err = (await c.call('throwProxy', []).catch((e) => e)) as RemoteError;
      assert.instance(err, RemoteError, round);
      assert.is(err.code, 'REMOTE', round);
      for (let kind = 0; kind < 9; kind++) {
        const e = (await c.call('throwOdd', [kind], { timeoutMs: 10_000 }).catch((x) => x)) as RemoteError;
        assert.is(e.code, 'REMOTE', `${round} throwOdd(${kind}): ${e.message}`);
      }
    }
    await othersUnharmed();
  } finally {
    await c.close();
  }
});

hostile.run();
