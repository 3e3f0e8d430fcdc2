/**
 * The naive hop's "user code" process. A call message is answered with its
 * own argument, as `run` does (bidi round trips are the same echo, as for the
 * floor). A stream request `[6, id, n]` is answered with n item messages and an
 * end message over IPC, pausing while the server says its socket is full
 * (`pause`/`resume`); every YIELD_EVERY items it waits until the IPC channel
 * has written the last one, which bounds the channel's backlog and lets pause
 * messages in.
 */
import { RAW_END, RAW_ITEM, RAW_STREAM } from '../lib/raw-protocol.js';

type FromServer = { conn: number; msg: [number, number, ...unknown[]] } | { pause: number } | { resume: number };

/** Connections whose socket is over its high-water mark, with the waiters to wake on resume. */
const paused = new Map<number, (() => void)[]>();
const YIELD_EVERY = 256;

process.on('message', (m: FromServer) => {
  if ('pause' in m) { if (!paused.has(m.pause)) paused.set(m.pause, []); return; }
  if ('resume' in m) { for (const wake of paused.get(m.resume) ?? []) wake(); paused.delete(m.resume); return; }
  const [type, id, ...rest] = m.msg;
  if (type === RAW_STREAM) { void stream(m.conn, id, rest[0] as number); return; }
  const args = rest[1] as unknown[];
  process.send!({ conn: m.conn, reply: [16, id, args[0]] });
});

async function stream(conn: number, id: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const wait = paused.get(conn);
    if (wait) await new Promise<void>((resolve) => wait.push(resolve));
    const item = { conn, reply: [RAW_ITEM, id, i] };
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise<void>((resolve) => process.send!(item, undefined, {}, () => resolve()));
    else process.send!(item);
  }
  process.send!({ conn, reply: [RAW_END, id] });
}
