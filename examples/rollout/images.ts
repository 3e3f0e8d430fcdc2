/**
 * Task images, made locally (no registry needed): a busybox root file system
 * with the task's repository in /workspace, written as a tar here and loaded
 * with `docker import`. The tar is deterministic (sorted entries, fixed
 * times), so its hash says whether the image the engine already has is
 * current; an unchanged task is not imported again.
 *
 * Every image carries the label `agentix-rollout.task=<name>`, which is how
 * `removeTaskImages` (and the test) find them.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import type { Task } from './tasks.js';

export const TASK_LABEL = 'agentix-rollout.task';
const CONTENT_LABEL = 'agentix-rollout.content';
/** Where the task's repository sits in the image, and the sandbox's working directory. */
export const WORKSPACE = '/workspace';
/** A static busybox (Debian's busybox-static): it runs in an image without a libc. */
const BUSYBOX = '/bin/busybox';

export function taskImageTag(task: Pick<Task, 'name'>): string {
  return `agentix-rollout-${task.name}:1`;
}

/** Makes sure the engine has the task's image, current with the files on disk. Returns the tag. */
export async function ensureTaskImage(docker: Docker, task: Task): Promise<{ tag: string; imported: boolean }> {
  const tag = taskImageTag(task);
  const rootfs = await packRootfs(task.repoDir);
  const hash = createHash('sha256').update(rootfs).digest('hex').slice(0, 32);
  const existing = await docker
    .getImage(tag)
    .inspect()
    .catch((err: { statusCode?: number }) => (err.statusCode === 404 ? undefined : Promise.reject(err)));
  if (existing?.Config?.Labels?.[CONTENT_LABEL] === hash) return { tag, imported: false };

  const [repo, version] = tag.split(':');
  const changes = [`LABEL ${TASK_LABEL}=${task.name}`, `LABEL ${CONTENT_LABEL}=${hash}`, 'ENV PATH=/bin:/sbin', `WORKDIR ${WORKSPACE}`, 'CMD ["/bin/sh"]'];
  let text = '';
  try {
    const response = await docker.importImage(Readable.from([rootfs]) as unknown as NodeJS.ReadableStream, { repo, tag: version, changes } as object);
    for await (const chunk of response as AsyncIterable<Buffer>) text += chunk.toString();
  } catch (err) {
    throw new Error(`docker import of ${tag} failed: ${(err as { json?: { message?: string } }).json?.message ?? (err as Error).message}`);
  }
  if (/"error"/.test(text)) throw new Error(`docker import of ${tag} failed: ${text.trim()}`);
  // the previous version, now untagged, would linger as a dangling image
  if (existing) await docker.getImage(existing.Id).remove().catch(() => undefined);
  return { tag, imported: true };
}

/** Removes every task image (all tasks, or the named ones). Returns the tags removed. */
export async function removeTaskImages(docker: Docker, names?: string[]): Promise<string[]> {
  const images = await docker.listImages({ filters: { label: [TASK_LABEL] } });
  const removed: string[] = [];
  for (const image of images) {
    const name = image.Labels?.[TASK_LABEL];
    if (names && (!name || !names.includes(name))) continue;
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch((err: { statusCode?: number }) => (err.statusCode === 404 ? undefined : Promise.reject(err)));
    removed.push(...(image.RepoTags ?? [image.Id]));
  }
  return removed;
}

/** busybox with its applet links, /etc basics, /tmp, and the repository under /workspace. */
async function packRootfs(repoDir: string): Promise<Buffer> {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: apt-get install -y busybox-static (or run bash .ci/docker.sh)`);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => a && a !== 'busybox')
    .sort();
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  })();
  const mtime = new Date(0);
  const dir = (name: string, mode = 0o755) => pack.entry({ name, type: 'directory', mode, mtime });
  const file = (name: string, body: string | Buffer, mode = 0o644) => pack.entry({ name, mode, mtime }, body);

  for (const d of ['bin/', 'sbin/', 'etc/', 'root/', 'home/']) dir(d);
  dir('tmp/', 0o1777);
  file('bin/busybox', readFileSync(BUSYBOX), 0o755);
  for (const a of applets) pack.entry({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox', mode: 0o777, mtime });
  file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
  file('etc/group', 'root:x:0:\nnogroup:x:65534:\n');
  dir(`${WORKSPACE.slice(1)}/`);
  const walk = (from: string, to: string) => {
    for (const name of readdirSync(from).sort()) {
      const src = join(from, name);
      const st = statSync(src);
      if (st.isDirectory()) {
        dir(`${to}/${name}/`);
        walk(src, `${to}/${name}`);
      } else if (st.isFile()) file(`${to}/${name}`, readFileSync(src), st.mode & 0o777);
    }
  };
  walk(repoDir, WORKSPACE.slice(1));
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/**
 * Removes the agent's bundle image tag. When it was the image's last tag, the
 * image goes too, after its carrier (the never-started container that holds
 * its /nix for the sandboxes) and any sandbox still using it.
 */
export async function removeBundleImage(docker: Docker, tag: string): Promise<void> {
  const gone = (err: { statusCode?: number }) => (err.statusCode === 404 ? undefined : Promise.reject(err));
  const image = await docker.getImage(tag).inspect().catch(gone);
  if (!image) return;
  if ((image.RepoTags ?? []).length > 1) {
    await docker.getImage(tag).remove().catch(gone); // other tags keep the image (and its carrier) alive
    return;
  }
  const users = await docker.listContainers({ all: true, filters: { label: [`agentix.bundle-id=${image.Id}`] } });
  for (const c of users) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(gone);
  await docker.getImage(image.Id).remove({ force: true }).catch(gone);
}
