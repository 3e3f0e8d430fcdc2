/**
 * Prototype of the design issue 12 asks to measure against the hop: the
 * server accepts each TCP connection and hands the socket itself to one child
 * process (`child.send(msg, socket)`), which speaks WebSocket and msgpack and
 * answers the calls (bench/servers/socket-handoff-child.ts). After the
 * hand-off no byte of the connection passes through this process, so a call
 * costs no hop; what this process keeps is the supervision such a design
 * would still need, kept cheap:
 *
 * - it owns the listening socket and the connection count (a limit would be
 *   enforced here, before the child sees a byte);
 * - the child sends a heartbeat over IPC every HEARTBEAT_MS; missing
 *   HANG_AFTER_MS of them, or an exit, ends the child and this server (a real
 *   design would start a new child, but the connections it held are gone).
 *
 * The connection is handed over before any byte is read (`pauseOnConnect`),
 * so the HTTP upgrade is parsed in the child; a design that checks a token at
 * the upgrade would parse it here and pass the request head along.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:net';
import { TSX_ARGS } from '../lib/node-args.js';

const HEARTBEAT_MS = 1000;
const HANG_AFTER_MS = 5000;

const child = fork(new URL('./socket-handoff-child.ts', import.meta.url).pathname, [String(HEARTBEAT_MS)], {
  execArgv: TSX_ARGS,
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
let stopping = false;
const stop = (code: number) => {
  stopping = true;
  child.kill('SIGKILL');
  process.exit(code);
};
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
child.on('exit', (code, signal) => {
  if (stopping) return;
  console.error(`socket-handoff: child exited (${code ?? signal}); its connections are gone`);
  process.exit(1);
});

let lastBeat = Date.now();
let open = 0;
child.on('message', (m: { beat?: true; closed?: true; ready?: true }) => {
  if (m.beat) lastBeat = Date.now();
  else if (m.closed) open--;
  else if (m.ready) listen();
});
setInterval(() => {
  if (Date.now() - lastBeat > HANG_AFTER_MS) {
    console.error(`socket-handoff: no heartbeat from the child for ${HANG_AFTER_MS} ms, killing it`);
    stop(1);
  }
}, HEARTBEAT_MS).unref();

const server = createServer({ pauseOnConnect: true }, (socket) => {
  open++;
  // keepOpen false (the default): once sent, the socket is closed in this process.
  child.send('socket', socket, (err) => {
    if (err) { open--; socket.destroy(); console.error(`socket-handoff: hand-off failed: ${err.message}`); }
  });
});

function listen(): void {
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    console.log(`socket-handoff: listening on ws://127.0.0.1:${port}`);
  });
}
