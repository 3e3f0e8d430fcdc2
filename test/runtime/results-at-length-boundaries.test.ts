/**
 * Results whose message is exactly at WebSocket length-field boundaries (125/126 bytes: 7-bit vs 16-bit;
 * 65535/65536: the server's own framing vs ws.send), interleaved: each arrives whole, intact, and in the
 * order the worker answered (one worker runs them in order).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../runtime/wire/codec.js';
import { CALL, RESULT } from '../../runtime/wire/protocol.js';
import { rawSocket } from '../support/raw-socket.js';
import { repoRoot, serve, type Served } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
let server: Served;
const edges = suite('frame length boundaries');
edges.before(async () => {
  server = await serve(project, { noGen: true });
});
edges.after(async () => {
  await server?.stop();
});

/** The bin length whose RESULT message for call `id` encodes to exactly `size` bytes. */
function binFor(id: number, size: number): number {
  for (let n = Math.max(0, size - 16); n <= size; n++) if (encode([RESULT, id, new Uint8Array(n)]).length === size) return n;
  return -1;
}

edges('results of 124-126 and 65534-65537 bytes, interleaved, arrive whole and in order', async () => {
  const ws = await rawSocket(server.url, server.token);
  try {
    const sizes = [124, 125, 126, 127, 65534, 65535, 65536, 65537];
    const plan: { id: number; n: number }[] = [];
    let id = 1;
    for (let round = 0; round < 8; round++)
      for (const s of [...sizes].sort(() => (round % 2 ? 1 : -1))) {
        const n = binFor(id, s);
        if (n >= 0) plan.push({ id, n });
        id++;
      }
    const got: { id: number; bytes: Uint8Array; raw: number }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${got.length} of ${plan.length} results within 20 s`)), 20_000);
      ws.on('message', (data: Buffer) => {
        const m = decode(data) as unknown[];
        if (m[0] !== RESULT) return;
        got.push({ id: Number(m[1]), bytes: m[2] as Uint8Array, raw: data.length });
        if (got.length === plan.length) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    for (const p of plan) ws.send(encode([CALL, p.id, 0, 'echo', [new Uint8Array(p.n).fill(p.id & 0xff)]]));
    await done;
    assert.equal(got.map((g) => g.id), plan.map((p) => p.id));
    for (const [i, g] of got.entries()) {
      assert.is(g.bytes.length, plan[i]!.n);
      assert.ok(g.bytes.every((b) => b === (g.id & 0xff)), `call ${g.id}'s bytes are intact`);
    }
  } finally {
    ws.terminate();
  }
});

edges.run();
