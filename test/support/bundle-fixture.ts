/**
 * A private copy of fixtures/bundle/hello in a temp dir, with its one
 * dependency (dequal) linked from the repo's node_modules, so a test can build
 * and edit it without touching the repo. `remove()` deletes it.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
export const HELLO_FIXTURE = join(repo, 'fixtures', 'bundle', 'hello');

export interface FixtureCopy {
  dir: string;
  remove(): void;
}

/** `name` keeps the path depth equal between copies (compiled paths are relative to it). */
export function copyHelloFixture(name = 'p'): FixtureCopy {
  const parent = mkdtempSync(join(tmpdir(), 'agentix-bundle-'));
  const dir = join(parent, name);
  cpSync(HELLO_FIXTURE, dir, { recursive: true, filter: (src) => !src.includes('/.agentix') && !src.includes('/node_modules') });
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(join(repo, 'node_modules', 'dequal'), join(dir, 'node_modules', 'dequal'));
  return { dir, remove: () => rmSync(parent, { recursive: true, force: true }) };
}
