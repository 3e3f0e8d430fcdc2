import type { DeploymentClass, DockerDeploymentClass } from './types.js';

/**
 * Finds a deployment backend by name: `local`, `docker` and `kubernetes` are built in; any
 * other NAME is the default export (or `Deployment` export) of the npm package
 * `agentix-deployment-NAME`, resolved from the current working directory's
 * node_modules as well as from agentix's own.
 */
export async function loadDeployment(name: 'docker'): Promise<DockerDeploymentClass>;
export async function loadDeployment(name: string): Promise<DeploymentClass>;
export async function loadDeployment(name: string): Promise<DeploymentClass | DockerDeploymentClass> {
  if (name === 'local') return (await import('./local.js')).LocalDeployment;
  if (name === 'docker') return (await import('./docker.js')).DockerDeployment;
  if (name === 'kubernetes') return (await import('./kubernetes.js')).KubernetesDeployment;
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) throw new Error(`invalid deployment name ${JSON.stringify(name)}: use lowercase letters, digits, '.', '_' or '-'`);
  const pkg = `agentix-deployment-${name}`;
  let mod: Record<string, unknown>;
  try {
    const { createRequire } = await import('node:module');
    const { pathToFileURL } = await import('node:url');
    const require = createRequire(pathToFileURL(process.cwd() + '/').href);
    let spec: string = pkg;
    try {
      spec = pathToFileURL(require.resolve(pkg)).href;
    } catch {
      // not in the cwd's node_modules: let Node resolve it from agentix's own location
    }
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`deployment "${name}" not found: install the npm package ${pkg} (${(err as Error).message.split('\n')[0]})`);
  }
  const cls = (mod.default ?? mod.Deployment) as DeploymentClass | undefined;
  if (typeof cls !== 'function') throw new Error(`package ${pkg} must export its deployment class as default (or as "Deployment")`);
  return cls;
}
