/**
 * The parts of the portable build that read the host: the ldd closure parser
 * (on real ldd output of this machine's node, and on the failure shapes) and
 * the tool table against this host's Debian packages.
 */
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { elfClosure, isElf, parseLdd } from '../../bundle/elf.js';
import { checkToolNames, parseTools, resolveTools } from '../../bundle/tools.js';
import { checkPlatform } from '../../bundle/platform.js';

test("node's closure: a loader and libc among its libraries, each a real file", async () => {
  const c = await elfClosure(process.execPath);
  assert.ok(c.loader, 'node has a dynamic loader');
  assert.match(c.loader!.soname, /^ld-/);
  assert.ok(c.libs.some((l) => l.soname === 'libc.so.6'), c.libs.map((l) => l.soname).join(' '));
  assert.not.ok(c.libs.some((l) => l.soname.startsWith('linux-vdso')), 'the vdso is the kernel\'s, not copied');
});

test('a library that is not installed is named with the binary', () => {
  assert.throws(() => parseLdd('/x/tool', '\tlibnope.so.1 => not found\n'), /\/x\/tool needs libnope\.so\.1, which is not installed/);
  assert.equal(parseLdd('/x/static', '\tstatically linked\n'), { loader: undefined, libs: [] });
});

test('isElf tells programs from scripts', () => {
  assert.ok(isElf(process.execPath));
  const script = execFileSync('sh', ['-c', 'command -v bashbug || command -v zdiff || true'], { encoding: 'utf8' }).trim();
  if (script) assert.not.ok(isElf(script));
});

test('tools: names parsed, unknown ones refused with the list, bash and coreutils resolved to ELF programs', async () => {
  assert.equal(parseTools(' coreutils,bash,bash '), ['bash', 'coreutils']);
  assert.equal(parseTools('none'), []);
  assert.throws(() => checkToolNames(['bash', 'vim']), /unknown tool vim in --tools; known tools: bash, coreutils/);
  const files = await resolveTools(['bash', 'coreutils']);
  for (const p of ['bash', 'ls', 'cat', 'env', 'sort']) assert.ok(files.programs.has(p), `${p} in the tools`);
  for (const f of files.programs.values()) assert.ok(isElf(f), f);
});

test('platform: the host is accepted in its spellings, another one refused', () => {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  assert.equal(checkPlatform(undefined), { os: 'linux', architecture: arch });
  assert.equal(checkPlatform(`linux/${arch}`), { os: 'linux', architecture: arch });
  if (arch === 'amd64') assert.equal(checkPlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.throws(() => checkPlatform('windows/amd64'), /cannot build for windows\/amd64/);
  assert.throws(() => checkPlatform('linux amd64'), /invalid --platform/);
});

test.run();
