/**
 * Replays every transcript of docs/conformance/ against a real `agentix serve`
 * of fixtures/conformance over raw WebSockets (no runtime/client code), one test
 * per transcript named by what it shows. Transcripts without a "server" block
 * share one server; the others each get their own, started with their env.
 */
import { join } from 'node:path';
import { suite } from 'uvu';
import { repoRoot, serve, type Served } from '../support/serve.js';
import { Replay, type ServerHandle } from './replay.js';
import { loadTranscripts } from './transcript.js';
import { testName } from './test-name.js';
import { coverageGaps } from './coverage.js';
import * as assert from 'uvu/assert';

const fixture = join(repoRoot, 'fixtures/conformance');
const all = loadTranscripts(join(repoRoot, 'docs/conformance'));
/** CONFORMANCE_ONLY=word[,word…] replays only the transcripts whose file name contains one of the words. */
const only = process.env.CONFORMANCE_ONLY?.split(',').filter(Boolean);
const transcripts = only ? all.filter((t) => only.some((w) => t.name.includes(w))) : all;

const handle = (s: Served): ServerHandle => ({ url: s.url, token: s.token, signal: (sig) => void s.child.kill(sig as NodeJS.Signals) });


const meta = suite('conformance suite');
meta('the transcripts send every client message type and expect every server message type and error code of docs/protocol.md', () => {
  assert.equal(coverageGaps(join(repoRoot, 'docs/protocol.md'), all), []);
});
meta.run();

const shared = suite('transcripts on one shared server');
let server: Served | undefined;
shared.before(async () => {
  server = await serve(fixture, { noGen: true });
});
shared.after(async () => {
  await server?.stop();
});
for (const t of transcripts.filter((x) => !x.server)) {
  shared(testName(t), async () => {
    try {
      await new Replay(t, handle(server!)).run();
    } catch (err) {
      if (t.discrepancy) (err as Error).message += `\n  known disagreement: ${t.discrepancy}`;
      throw err;
    }
  });
}
shared.run();

const own = suite('transcripts on a server of their own');
for (const t of transcripts.filter((x) => x.server)) {
  own(testName(t), async () => {
    const s = await serve(fixture, { noGen: true, env: t.server!.env });
    try {
      await new Replay(t, handle(s)).run();
    } catch (err) {
      if (t.discrepancy) (err as Error).message += `\n  known disagreement: ${t.discrepancy}`;
      (err as Error).message += `\n  server output:\n${s.output().slice(-2000)}`;
      throw err;
    }
    finally {
      await s.stop();
    }
  });
}
own.run();
