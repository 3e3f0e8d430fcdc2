/**
 * What the package publishes: `dist/index.d.ts` (built by `npm run build`)
 * shows the public API and nothing of the internals — no call table, no
 * engine, none of RuntimeClient's former internal methods.
 */
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot } from './support/serve.js';

const dts = `${repoRoot}/dist/index.d.ts`;

test('the published declarations hold RuntimeClient with its public members only', () => {
  assert.ok(existsSync(dts), `${dts} is missing: run npm run build`);
  const text = readFileSync(dts, 'utf8');
  const client = /declare class RuntimeClient[^]*?\n}\n/.exec(text)?.[0] ?? '';
  assert.ok(client.length > 0, 'RuntimeClient is declared');
  for (const member of ['connect', 'call', 'stream', 'bidi', 'close', 'inFlight']) assert.match(client, new RegExp(`\\b${member}\\b`), member);
  for (const internal of ['allocateId', 'guard', 'register', 'sendCall', 'sendRaw', 'settleLocally', 'sendEncoded', 'unregister']) {
    assert.not.match(client, new RegExp(`\\b${internal}\\b`), `${internal} is not published`);
  }
  for (const internal of ['CallTable', 'CallEngine', 'clientOver', 'WorkerSupervisor', 'ProgressWriter']) {
    assert.not.match(text, new RegExp(`\\b${internal}\\b`), `${internal} is not published`);
  }
});

test('the published Deployment interface has snapshot and deleteSnapshot, both optional', () => {
  const text = readFileSync(dts, 'utf8');
  const deployment = /interface Deployment \{[^]*?\n}\n/.exec(text)?.[0] ?? '';
  assert.ok(deployment.length > 0, 'Deployment is declared');
  for (const member of ['create', 'delete', 'get']) assert.match(deployment, new RegExp(`\\n\\s*${member}\\(`), member);
  assert.match(deployment, /\n\s*snapshot\?\(id: string\): Promise<string>;/);
  assert.match(deployment, /\n\s*deleteSnapshot\?\(ref: string\): Promise<void>;/);
});

test.run();
