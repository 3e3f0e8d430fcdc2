/** The naive hop's "user code" process: answers each call message with its own argument, as `run` does. */
process.on('message', (m: { conn: number; msg: [number, number, string, unknown[]] }) => {
  const [, id, , args] = m.msg;
  process.send!({ conn: m.conn, reply: [16, id, args[0]] });
});
