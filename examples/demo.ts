/**
 * The quick-start demo: generate the project's stubs, start it in a local
 * sandbox (the runtime server as a subprocess), and make one call of each
 * shape through the typed remote.  Run it with `npm run demo`.
 */
import { fileURLToPath } from 'node:url';
import { loadDeployment, RuntimeClient, session } from 'agentix';
import { createRemote } from './demo/agentix-gen/client.js';

const project = fileURLToPath(new URL('./demo', import.meta.url));
const Local = await loadDeployment('local');

const started = Date.now();
await session(new Local(), { image: '', bundle: project }, async (sandbox) => {
  console.log(`sandbox ${sandbox.id} at ${sandbox.runtimeUrl} (${Date.now() - started} ms)`);
  const client = await RuntimeClient.connect(sandbox);
  const remote = createRemote(client);
  try {
    console.log('unary  run("world")    →', await remote.run('world'));

    const items: number[] = [];
    for await (const n of remote.count(5)) items.push(n);
    console.log('stream count(5)        →', items.join(' '));

    const chat = remote.chat('> ');
    void chat.send('hi');
    void chat.send('how are you?');
    chat.close();
    for await (const line of chat) console.log('bidi   chat             →', line);

    const shell = await remote.bash.run('echo "$((6 * 7)) from $(basename "$PWD")"');
    console.log('plugin bash.run        →', shell.stdout.trim(), `(exit ${shell.exitCode})`);
  } finally {
    await client.close();
  }
});
console.log(`done in ${Date.now() - started} ms; the sandbox is gone`);
