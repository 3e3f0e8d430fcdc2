/**
 * The Docker deployment's fail-fast configuration checks. They need no engine:
 * a socket path that does not exist and a loopback port nothing listens on
 * stand in for a missing engine.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DockerDeployment, demuxLogs } from '../../deploy/docker.js';
import { withEnv } from '../support/env.js';

test('the constructor fails at once when the engine socket does not exist, saying what to do', () => {
  withEnv({ DOCKER_HOST: 'unix:///nonexistent/agentix-test.sock' }, () => {
    assert.throws(() => new DockerDeployment(), /no Docker engine: \/nonexistent\/agentix-test\.sock does not exist.*Start dockerd/);
  });
  withEnv({ DOCKER_HOST: 'ftp://x' }, () => {
    assert.throws(() => new DockerDeployment(), /DOCKER_HOST=ftp:\/\/x is not understood/);
  });
});

test('an engine that does not answer: the first create says so, naming DOCKER_HOST', async () => {
  // port 9 (discard) on loopback: nothing listens there on our machines
  const d = withEnv({ DOCKER_HOST: 'tcp://127.0.0.1:9' }, () => new DockerDeployment());
  try {
    await withEnv({ DOCKER_HOST: 'tcp://127.0.0.1:9' }, () => d.create({ image: 'x', bundle: 'y:1' }));
    assert.unreachable('create should fail');
  } catch (err) {
    assert.match((err as Error).message, /the Docker engine at tcp:\/\/127\.0\.0\.1:9 does not answer/);
  }
});

test('a bad config is refused before the engine is asked', async () => {
  const d = withEnv({ DOCKER_HOST: 'tcp://127.0.0.1:9' }, () => new DockerDeployment());
  for (const [config, re] of [
    [{ image: '', bundle: 'b:1' }, /`image` \(the task image\) is required/],
    [{ image: 'i', bundle: 'b:1', memoryBytes: 1000 }, /`memoryBytes` must be .* at least 6 MiB/],
    [{ image: 'i', bundle: 'b:1', env: { 'BAD-NAME': 'x' } }, /env "BAD-NAME" must be a NAME/],
    [{ image: 'i', bundle: 'b:1', labels: { 'agentix.sandbox': '0' } }, /agentix\.\* labels are reserved/],
  ] as const) {
    try {
      await d.create(config as never);
      assert.unreachable('should refuse');
    } catch (err) {
      assert.match((err as Error).message, re);
    }
  }
});

test('container logs: the multiplexed stream is decoded, a raw one passed through', () => {
  const frame = (stream: number, text: string) => {
    const body = Buffer.from(text);
    const head = Buffer.alloc(8);
    head[0] = stream;
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  assert.is(demuxLogs(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')])), 'out\nerr\n');
  assert.is(demuxLogs(Buffer.from('plain text\n')), 'plain text\n');
});

test.run();
