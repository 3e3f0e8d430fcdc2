import type { Deployment, Sandbox, SandboxConfig } from './types.js';

/**
 * Creates a sandbox, runs `fn` with it and always deletes it afterwards, also
 * when `fn` throws. The callback's error wins over a failure to delete, which
 * is attached as its `cause` only if it had none.
 */
export async function session<T>(
  deployment: Deployment,
  config: SandboxConfig,
  fn: (sandbox: Sandbox) => Promise<T> | T,
): Promise<T> {
  const sandbox = await deployment.create(config);
  let result: T;
  try {
    result = await fn(sandbox);
  } catch (err) {
    await deployment.delete(sandbox.id).catch(() => undefined);
    throw err;
  }
  await deployment.delete(sandbox.id);
  return result;
}
