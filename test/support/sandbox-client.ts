/**
 * A sandbox of any deployment with a client connected to it, and the one
 * cleanup that closes the client and deletes the sandbox (also when
 * connecting fails): what the plugin suite's `connect` returns.
 */
import type { Deployment, SandboxConfig } from '../../deploy/types.js';
import { RuntimeClient } from '../../runtime/client/client.js';

export interface SandboxClient {
  client: RuntimeClient;
  cleanup: () => Promise<void>;
}

export async function connectSandbox(deployment: Deployment, config: SandboxConfig): Promise<SandboxClient> {
  const sandbox = await deployment.create(config);
  try {
    const client = await RuntimeClient.connect(sandbox);
    return {
      client,
      cleanup: async () => {
        try {
          await client.close();
        } finally {
          await deployment.delete(sandbox.id);
        }
      },
    };
  } catch (err) {
    await deployment.delete(sandbox.id);
    throw err;
  }
}
