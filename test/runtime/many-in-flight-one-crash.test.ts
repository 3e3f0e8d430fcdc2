/**
 * 240 calls in flight on one socket (unary, stream, bidi mixed), one of them calling process.exit in
 * the middle: every call gets exactly one final, nothing of a call comes after its final, and every
 * unary call but the one that exited succeeds (those answered keep their answers, those not started run on
 * the restarted worker). Over a raw socket, as the worker's results leave in writes of at most 48.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../runtime/wire/codec.js';
import { CALL, END, ERROR, INBOX_END, INBOX_ITEM, ITEM, RESULT } from '../../runtime/wire/protocol.js';
import { rawSocket } from '../support/raw-socket.js';
import { repoRoot, serve, type Served } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
let server: Served;
const crash = suite('many in flight, one crash');
crash.before(async () => {
  server = await serve(project, { noGen: true });
});
crash.after(async () => {
  await server?.stop();
});

crash('exactly one final per call, in order, unary calls all succeed, streams end or get WORKER_EXITED', async () => {
  const ws = await rawSocket(server.url, server.token);
  try {
    const N = 240;
    const EXIT_AT = 120;
    const finals = new Map<number, unknown[]>();
    const items = new Map<number, number[]>();
    const late: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`only ${finals.size} of ${N} finals within 30 s`)), 30_000);
      ws.on('message', (data: Buffer) => {
        const m = decode(data) as unknown[];
        const id = Number(m[1]);
        if (id === 0) return;
        if (finals.has(id)) late.push(`${m[0]} for ${id} after its final`);
        if (m[0] === ITEM) items.set(id, [...(items.get(id) ?? []), Number(m[2])]);
        if (m[0] === RESULT || m[0] === END || m[0] === ERROR) {
          if (!finals.has(id)) finals.set(id, m);
          if (finals.size === N) {
            clearTimeout(t);
            resolve();
          }
        }
      });
    });
    const frames: Buffer[] = [];
    for (let id = 1; id <= N; id++) {
      if (id === EXIT_AT) frames.push(Buffer.from(encode([CALL, id, 0, 'exitNow', [3]])));
      else if (id % 3 === 0) frames.push(Buffer.from(encode([CALL, id, 0, 'count', [5]])));
      else if (id % 7 === 0) {
        frames.push(Buffer.from(encode([CALL, id, 0, 'chat', ['p:']])));
        frames.push(Buffer.from(encode([INBOX_ITEM, id, 'x'])));
        frames.push(Buffer.from(encode([INBOX_END, id])));
      } else frames.push(Buffer.from(encode([CALL, id, 0, 'add', [id, 1]])));
    }
    for (const f of frames) ws.send(f);
    await done;
    await new Promise((r) => setTimeout(r, 300)); // anything late would show now
    assert.equal(late, []);
    for (let id = 1; id <= N; id++) {
      const f = finals.get(id)!;
      if (id === EXIT_AT) {
        assert.is(f[0], ERROR);
        assert.is((f[2] as { code: string }).code, 'WORKER_EXITED');
      } else if (id % 3 === 0) {
        // A stream running when the worker died ends with WORKER_EXITED after a prefix of its items.
        const got = items.get(id) ?? [];
        assert.equal(got, [0, 1, 2, 3, 4].slice(0, got.length), `call ${id}'s items`);
        if (f[0] === END) assert.is(got.length, 5);
        else assert.is((f[2] as { code: string }).code, 'WORKER_EXITED', `call ${id}: ${JSON.stringify(f)}`);
      } else if (id % 7 === 0) {
        if (f[0] !== END) assert.is((f[2] as { code: string }).code, 'WORKER_EXITED', `call ${id}: ${JSON.stringify(f)}`);
      } else {
        assert.is(f[0], RESULT, `call ${id}: ${JSON.stringify(f)}`);
        assert.is(f[2], id + 1);
      }
    }
  } finally {
    ws.terminate();
  }
});

crash.run();
