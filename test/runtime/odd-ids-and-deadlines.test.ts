/**
 * Call ids and deadlines at their edges (docs/protocol.md, "Messages" and
 * "Life of a call"): id 0 is refused before it reaches the worker, with or
 * without a deadline, and a CANCEL for it too; a deadline beyond what a timer
 * holds (2^31 ms and up, in any integer or float encoding) lets the call run;
 * a fraction of a millisecond is rounded up; reusing an id right after its
 * CANCEL, before its final, is ignored with PROTOCOL (id 0) and the call gets
 * exactly one final. None of it costs the worker its life.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as M from '../support/fuzz/msgpack-raw.js';
import { Recorder } from '../support/fuzz/raw.js';
import { serveFuzz } from '../support/fuzz/serve-fuzz.js';

const call = (id: Buffer, timeout: Buffer, target: string, args: Buffer[]) => M.array([M.uint(1), id, timeout, M.str(target), M.array(args)]);
const errorCode = (m: unknown[] | undefined) => (m?.[0] === 17 ? (m[2] as { code: string }).code : undefined);

test('odd ids and deadlines: each answered as the protocol says, the worker untouched', async () => {
  const server = await serveFuzz({ AGENTIX_HANG_GRACE_MS: '300' });
  const rec = await Recorder.open(server.url, server.token);
  try {
    rec.send(call(M.uint(1), M.uint(0), 'add', [M.uint(1), M.uint(1)]));
    assert.ok(await rec.until(() => rec.finals(1).length === 1), 'warm-up');

    // id 0 with a deadline, id 0 as uint64, id 2^32, and a CANCEL for id 0: each refused with PROTOCOL on id 0.
    const before = rec.about(0).length;
    rec.send(call(M.uint(0), M.uint(50), 'waitForCancel', []));
    rec.send(call(M.uint(0, 64), M.uint(50), 'waitForCancel', []));
    rec.send(call(M.uint(2 ** 32), M.uint(50), 'waitForCancel', []));
    rec.send(M.array([M.uint(2), M.uint(0)]));
    assert.ok(await rec.until(() => rec.about(0).filter((m) => m[0] === 17).length >= before + 4), 'four id-0 errors');
    assert.ok(rec.about(0).slice(before).every((m) => errorCode(m) === 'PROTOCOL'), JSON.stringify(rec.about(0).slice(before)));

    // Deadlines no timer can hold: the calls run to their end.
    const long = [M.uint(2 ** 31 - 1), M.uint(2 ** 31), M.uint(2 ** 32 - 1), M.uint(2 ** 32), M.uint(2n ** 53n, 64), M.uint(2n ** 64n - 1n, 64), M.float64(2 ** 40 + 0.5), M.float64(1e300), M.float64(Infinity), M.float32(1e30)];
    long.forEach((t, i) => rec.send(call(M.uint(10 + i), t, 'sleep', [M.uint(100)])));
    assert.ok(await rec.until(() => long.every((_, i) => rec.finals(10 + i).length === 1)), 'every long-deadline call ended');
    assert.equal(long.map((_, i) => rec.finals(10 + i)[0]), long.map((_, i) => [16, 10 + i, 'slept 100']));

    // A quarter of a millisecond is one millisecond: over before sleep(100) is.
    rec.send(call(M.uint(30), M.float64(0.25), 'sleep', [M.uint(100)]));
    assert.ok(await rec.until(() => rec.finals(30).length === 1));
    assert.is(errorCode(rec.finals(30)[0]), 'DEADLINE_EXCEEDED');

    // Reusing an id right after its CANCEL: the new CALL is ignored (PROTOCOL, id 0), the call gets one final.
    rec.send(call(M.uint(40), M.uint(0), 'waitForCancel', []));
    await new Promise((r) => setTimeout(r, 100));
    const errorsBefore = rec.about(0).length;
    rec.send(M.array([M.uint(2), M.uint(40)]));
    rec.send(call(M.uint(40), M.uint(0), 'add', [M.uint(2), M.uint(3)]));
    assert.ok(await rec.until(() => rec.finals(40).length >= 1 && rec.about(0).length > errorsBefore));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rec.finals(40).map(errorCode), ['CANCELLED'], 'one final, the cancelled call\'s');
    assert.match(String((rec.about(0)[errorsBefore]![2] as { message: string }).message), /already in flight/);

    assert.is(server.workers().length, 1, 'the worker was never replaced');
  } finally {
    rec.close();
    await server.stop();
  }
});

test.run();
