/**
 * Opt-in: the Kubernetes backend against a real cluster. Nothing here runs
 * unless AGENTIX_TEST_KUBECONFIG names a kubeconfig (our machines have no
 * cluster, so CI prints SKIPPING and moves on). To run it:
 *
 *   agentix build fixtures/bundle/hello -t REGISTRY/agentix-hello:1 --push --no-gen   # prints REF
 *   AGENTIX_TEST_KUBECONFIG=~/.kube/config \
 *   AGENTIX_TEST_K8S_BUNDLE=REF \
 *   AGENTIX_TEST_K8S_IMAGE=busybox:1.36 \          # any task image the cluster can pull
 *   AGENTIX_K8S_NAMESPACE=agentix-test \           # a namespace with the Role of docs/kubernetes-rbac.yaml
 *   npm test -- real-cluster
 *
 * It makes sandboxes in each inject mode the cluster supports (AGENTIX_K8S_INJECT
 * as set, else both), calls them, deletes them, and checks nothing of its own
 * (by label) is left in the namespace.
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KubernetesDeployment } from '../../deploy/kubernetes.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { withEnv } from '../support/env.js';

const kubeconfig = process.env.AGENTIX_TEST_KUBECONFIG;
const bundle = process.env.AGENTIX_TEST_K8S_BUNDLE;
const image = process.env.AGENTIX_TEST_K8S_IMAGE ?? 'busybox:1.36';
const missing = !kubeconfig ? 'AGENTIX_TEST_KUBECONFIG is not set' : !bundle ? 'AGENTIX_TEST_K8S_BUNDLE (a pushed bundle the cluster can pull) is not set' : undefined;
const RUN = `real-${process.pid}-${randomBytes(3).toString('hex')}`;
const labels = { 'agentix-test.run': RUN };

const real = suite('kubernetes against a real cluster (opt-in)');

const modes = process.env.AGENTIX_K8S_INJECT ? [process.env.AGENTIX_K8S_INJECT] : ['image', 'copy'];
for (const inject of modes)
  real(`inject=${inject}: create, unary and stream calls, get, delete`, async () => {
    const d = withEnv({ KUBECONFIG: kubeconfig, AGENTIX_K8S_INJECT: inject }, () => new KubernetesDeployment());
    const sandbox = await d.create({ image, bundle: bundle!, labels, startupTimeoutMs: 180_000 });
    try {
      assert.is((await d.get(sandbox.id)).state, 'running');
      const client = await RuntimeClient.connect(sandbox);
      try {
        assert.is(await client.call('hello', ['cluster']), 'hello cluster');
        const items: number[] = [];
        for await (const n of client.stream<number>('count', [3])) items.push(n);
        assert.equal(items, [0, 1, 2]);
      } finally {
        await client.close();
      }
    } finally {
      await d.delete(sandbox.id);
    }
    assert.is((await d.get(sandbox.id)).state, 'deleted');
    const left = await d.api.core.listNamespacedPod({ namespace: d.namespace, labelSelector: `agentix-test.run=${RUN}` });
    assert.is(left.items.length, 0, 'no pod of this run is left');
  });

if (missing) {
  process.stdout.write(`\nSKIPPING the real-cluster Kubernetes tests: ${missing} (see the top of test/kubernetes/real-cluster.test.ts)\n\n`);
  const skipped = suite('kubernetes against a real cluster (not configured)');
  skipped.skip('every real-cluster test', () => {});
  skipped.run();
} else real.run();
