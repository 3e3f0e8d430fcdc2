/**
 * The compiler on code nobody here wrote: fixtures/codegen/corpus re-exports
 * 261 functions of 11 published npm packages (date-fns, es-toolkit, ufo,
 * pathe, change-case, semver, uuid, diff, yaml, @noble/hashes, marked),
 * typed only by their own declaration files. Checked:
 *
 * - gen succeeds, lists every export, and its model holds no `any` the
 *   packages did not write;
 * - the generated client.ts passes `tsc --strict` (the TypeScript users run);
 * - for a sample of signatures, the stub's parameter and result types and
 *   the package's own are mutually assignable (the checker says so);
 * - the schemas accept what the packages themselves produce (and the
 *   arguments of the sample calls), and reject deliberately broken values
 *   at the expected path;
 * - `agentix serve` of the corpus returns, for the sample calls through the
 *   generated stubs, exactly what calling the package locally returns.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import ts from 'typescript';
import * as dateFns from 'date-fns';
import * as esToolkit from 'es-toolkit';
import * as ufo from 'ufo';
import * as pathe from 'pathe';
import * as changeCase from 'change-case';
import semver from 'semver';
import * as uuid from 'uuid';
import * as jsdiff from 'diff';
import * as yaml from 'yaml';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { marked } from 'marked';
import { generate, type GenResult } from '../../codegen/index.js';
import { decode, encode } from '../../runtime/wire/codec.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { compileValidator, type ValidationIssue } from '../../runtime/worker/validate.js';
import { serve, type Served } from '../support/serve.js';
import { corpusDir, repoRoot } from './helpers.js';

const corpus = suite('corpus: real packages through agentix gen');

/** The corpus copied to a temp dir (node_modules linked to this checkout's), generated once for all tests. */
const work = mkdtempSync(join(tmpdir(), 'agentix-corpus-'));
let result: GenResult;
let generated: Promise<void> | undefined;
/** Awaited by every test (not a `before` hook, whose failure uvu would not count as a failed test). */
const ready = () => (generated ??= (async () => {
  cpSync(join(corpusDir, 'src'), join(work, 'src'), { recursive: true });
  cpSync(join(corpusDir, 'package.json'), join(work, 'package.json'));
  symlinkSync(join(repoRoot, 'node_modules'), join(work, 'node_modules'), 'dir');
  result = await generate({ projectDir: work });
})());
corpus.before.each(() => ready());
corpus.after(() => rmSync(work, { recursive: true, force: true }));

const args = (target: string) => result.manifest.targets[target]!.args;
const validate = (schema: unknown, value: unknown): ValidationIssue[] => compileValidator(schema, result.manifest.$defs)(decode(encode(value)));

corpus('gen succeeds on every export, and says what it left out', () => {
  const exported = [...readFileSync(join(corpusDir, 'src', 'index.ts'), 'utf8').matchAll(/export \{([^}]*)\}/g)]
    .flatMap((m) => m[1]!.split(',').map((s) => s.trim().split(/\s+as\s+/).pop()!).filter(Boolean));
  assert.ok(exported.length >= 150, `only ${exported.length} exports`);
  assert.equal(result.targets.map((t) => t.name), [...exported].sort());
  // What is dropped is said: optional callbacks (date-fns `in`, change-case `split`), symbol keys (ufo), overloads taking functions (diff).
  for (const note of [/date-fns\/types\.d\.ts:\d+: property "in": optional function-typed property left out/, /change-case\/dist\/index\.d\.ts:\d+: property "split"/,
    /ufo\/dist\/index\.d\.ts:\d+: property \[protocolRelative\]: symbol-keyed property left out/, /export structuredPatch: overload \d of \d .* left out/]) {
    assert.ok(result.notes.some((n) => note.test(n)), `no note matching ${note}`);
  }
  // The only any is what the packages wrote (yaml's parse() result, ufo's Record<string, any>, ...), each with its declaration.
  const anys = JSON.stringify(result.targets).match(/"kind":"any"[^}]*/g) ?? [];
  for (const a of anys) assert.match(a, /"declared":"node_modules\//);
});

corpus('Node-typed packages need the thorough pass, and get it (pathe: basename is typeof path.basename)', () => {
  assert.is(result.pass, 'full');
  assert.equal(result.manifest.targets.basename!.args, {
    type: 'array', prefixItems: [{ type: 'string' }, { anyOf: [{ type: 'string' }, { type: 'undefined' }] }], minItems: 1, maxItems: 2,
  });
});

/** One program over the generated client and the corpus, with the TypeScript users run (the repository's own `typescript`). */
function checkerProgram(): ts.Program {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022, lib: ['lib.es2022.d.ts'], module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(repoRoot, 'node_modules', '@types')],
    baseUrl: work, paths: { agentix: [join(repoRoot, 'index.ts')] },
  };
  return ts.createProgram([join(work, 'agentix-gen', 'client.ts'), join(work, 'src', 'index.ts')], options);
}
let program: ts.Program | undefined;
const getProgram = () => (program ??= checkerProgram());

corpus('the generated client.ts passes tsc --strict', () => {
  const p = getProgram();
  const sf = p.getSourceFile(join(work, 'agentix-gen', 'client.ts'))!;
  const diagnostics = [...p.getSyntacticDiagnostics(sf), ...p.getSemanticDiagnostics(sf)];
  assert.equal(diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')), []);
});

/**
 * Functions whose wire types are exactly the package's own (nothing left out
 * but whole overloads): each stub overload must be mutually assignable with
 * one of the package's. (Not here: semver's `string | SemVer`, yaml's
 * options — narrowed on purpose, see the notes.)
 */
const EXACT = [
  'formatDate', 'differenceInDays', 'formatDuration', 'intervalToDuration', 'isWithinInterval', 'getISOWeek', 'lightFormat', 'formatISO', 'intlFormat',
  'esCamelCase', 'words', 'mean', 'median', 'clamp', 'range', 'inRange', 'pad', 'round',
  'parseURL', 'withQuery', 'joinURL', 'stringifyQuery', 'parsePath', 'withBase', 'parseHost',
  'basename', 'join', 'parsePathParts', 'relative', 'matchesGlob',
  'split', 'splitSeparateNumbers',
  'v5', 'uuidValidate', 'uuidVersion', 'uuidParse',
  'diffChars', 'structuredPatch', 'createPatch', 'parsePatch', 'reversePatch',
  'bytesToHex', 'utf8ToBytes', 'hexToBytes',
];

corpus('for a sample of signatures, stub and package types are mutually assignable (parameters and result)', () => {
  const p = getProgram();
  const c = p.getTypeChecker();
  const clientSf = p.getSourceFile(join(work, 'agentix-gen', 'client.ts'))!;
  const remote = c.getExportsOfModule(c.getSymbolAtLocation(clientSf)!).find((s) => s.name === 'Remote')!;
  const remoteType = c.getDeclaredTypeOfSymbol(remote);
  const entry = c.getSymbolAtLocation(p.getSourceFile(join(work, 'src', 'index.ts'))!)!;
  const originals = new Map(c.getExportsOfModule(entry).map((s) => [s.name, c.getTypeOfSymbol(c.getAliasedSymbol(s))]));
  // Bytes are bytes on the wire: the stubs say Uint8Array (any buffer, and TypeScript before 5.7), packages often Uint8Array<ArrayBuffer>.
  const bytes = (t: ts.Type): boolean => (t.isIntersection() ? t.types.every(bytes) : t.getSymbol()?.name === 'Uint8Array');
  const same = (a: ts.Type, b: ts.Type) => (bytes(a) && bytes(b)) || (c.isTypeAssignableTo(a, b) && c.isTypeAssignableTo(b, a));
  const optional = (p: ts.Symbol) => c.isOptionalParameter(p.valueDeclaration as ts.ParameterDeclaration);
  const wireParams = (s: ts.Signature) => s.getParameters().filter((p) => p.name !== 'callOptions');
  /** Why stub overload `s` is not exactly package overload `o` (undefined: it is). */
  const differs = (s: ts.Signature, o: ts.Signature): string | undefined => {
    const sp = wireParams(s), op = o.getParameters();
    if (sp.length !== op.length) return `${sp.length} parameters, the package's ${op.length}`;
    for (let i = 0; i < op.length; i++) {
      if (optional(sp[i]!) !== optional(op[i]!)) return `parameter ${op[i]!.name} optional: stub ${optional(sp[i]!)}, package ${optional(op[i]!)}`;
      const st = c.getNonNullableType(c.getTypeOfSymbol(sp[i]!)), ot = c.getNonNullableType(c.getTypeOfSymbol(op[i]!));
      if (!same(st, ot)) return `parameter ${op[i]!.name}: stub ${c.typeToString(st)}, package ${c.typeToString(ot)}`;
    }
    const sr = c.getAwaitedType(s.getReturnType())!, or = c.getAwaitedType(o.getReturnType())!;
    return same(sr, or) ? undefined : `result: stub ${c.typeToString(sr)}, package ${c.typeToString(or)}`;
  };
  const problems: string[] = [];
  let compared = 0;
  for (const name of EXACT) {
    const stubSigs = c.getTypeOfSymbol(remoteType.getProperty(name)!).getCallSignatures();
    const origSigs = originals.get(name)!.getCallSignatures();
    // Every stub overload is exactly one of the package's.
    for (const s of stubSigs) {
      const reasons = origSigs.map((o) => differs(s, o));
      if (reasons.some((r) => r === undefined)) compared++;
      else problems.push(`${name}${c.signatureToString(s)}: ${reasons.join('; ')}`);
    }
  }
  assert.equal(problems, []);
  assert.ok(compared >= 40, `only ${compared} signatures compared`);
});

const DAY = new Date(Date.UTC(2024, 1, 29, 12, 30));
const LATER = new Date(Date.UTC(2025, 6, 4, 8, 0));
const NS = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
const patch = jsdiff.structuredPatch('a.txt', 'b.txt', 'one\ntwo\n', 'one\nthree\n');

/** Sample calls: target, arguments, and the package's own function. */
const CALLS: [string, unknown[], (...a: never[]) => unknown][] = [
  ['formatDate', [DAY, 'yyyy-MM-dd HH:mm'], dateFns.format],
  ['differenceInDays', [LATER, DAY], dateFns.differenceInDays],
  ['formatDuration', [{ years: 1, months: 2, days: 3 }], dateFns.formatDuration],
  ['intervalToDuration', [{ start: DAY, end: LATER }], dateFns.intervalToDuration],
  ['isWithinInterval', [DAY, { start: 0, end: LATER }], dateFns.isWithinInterval],
  ['getISOWeek', [DAY], dateFns.getISOWeek],
  ['formatISO', [DAY, { representation: 'date' }], dateFns.formatISO],
  ['intlFormat', [DAY, { year: 'numeric', month: 'long', timeZone: 'UTC' }, { locale: 'en-US' }], dateFns.intlFormat],
  ['isValid', [new Date(Number.NaN)], dateFns.isValid],
  ['words', ['fooBar baz_qux'], esToolkit.words],
  ['mean', [[1, 2, 3, 4]], esToolkit.mean],
  ['clamp', [15, 10], esToolkit.clamp],
  ['clamp', [-5, 0, 10], esToolkit.clamp],
  ['range', [0, 10, 3], esToolkit.range],
  ['startCase', ['hello wide world'], esToolkit.startCase],
  ['escape', ['<a href="x">'], esToolkit.escape],
  ['parseURL', ['https://user@example.com:8080/a/b?x=1#top'], ufo.parseURL],
  ['withQuery', ['/search', { q: 'agentix', page: 2, tags: ['a', 'b'] }], ufo.withQuery],
  ['joinURL', ['https://example.com', 'a', '/b/'], ufo.joinURL],
  ['normalizeURL', ['http://example.com//a/../b?x=a b'], ufo.normalizeURL],
  ['basename', ['/srv/app/index.ts'], pathe.basename],
  ['basename', ['/srv/app/index.ts', '.ts'], pathe.basename],
  ['join', ['a', '..', 'b', 'c.txt'], pathe.join],
  ['parsePathParts', ['/srv/app/index.test.ts'], pathe.parse],
  ['camelCase', ['agentix gen corpus'], changeCase.camelCase],
  ['snakeCase', ['agentixGen2Corpus', { separateNumbers: true }], changeCase.snakeCase],
  ['split', ['fooBarBaz'], changeCase.split],
  ['satisfies', ['1.4.2', '^1.2.0'], semver.satisfies],
  ['inc', ['1.4.2', 'preminor', 'beta'], semver.inc],
  ['semverDiff', ['1.4.2', '2.0.0'], semver.diff],
  ['valid', ['not a version'], semver.valid],
  ['v5', ['agentix', NS], uuid.v5],
  ['uuidValidate', [NS], uuid.validate],
  ['uuidParse', [NS], uuid.parse],
  ['diffChars', ['kitten', 'sitting'], jsdiff.diffChars],
  ['structuredPatch', ['a.txt', 'b.txt', 'one\ntwo\n', 'one\nthree\n'], jsdiff.structuredPatch],
  ['applyPatch', ['one\ntwo\n', patch], jsdiff.applyPatch],
  ['createPatch', ['f.txt', 'a\nb\n', 'a\nc\n'], jsdiff.createPatch],
  ['reversePatch', [patch], jsdiff.reversePatch],
  ['yamlParse', ['a: 1\nb: [x, y]\nc: { d: true }\n'], yaml.parse],
  ['yamlStringify', [{ a: 1, b: ['x', 'y'] }], yaml.stringify],
  ['sha256', [utf8ToBytes('abc')], sha256],
  ['sha512', [new Uint8Array([1, 2, 3])], sha512],
  ['keccak_256', [utf8ToBytes('')], keccak_256],
  ['bytesToHex', [new Uint8Array([0xca, 0xfe])], bytesToHex],
  ['hexToBytes', ['cafe01'], hexToBytes],
  ['markdown', ['# Hello *world*'], marked.parse],
  ['marked', ['a [link](https://example.com)'], marked],
];

/** What the package returns, after the msgpack round trip the wire makes (bytes arrive as Buffer). */
const local = async (fn: (...a: never[]) => unknown, a: unknown[]) => decode(encode(await fn(...(a as never[]))));

corpus('schemas accept the sample arguments and every value the packages return for them', async () => {
  const problems: string[] = [];
  for (const [target, a, fn] of CALLS) {
    const t = result.manifest.targets[target];
    if (!t) { problems.push(`${target}: no target`); continue; }
    const argIssues = validate(t.args, a);
    if (argIssues.length) problems.push(`${target} args: ${JSON.stringify(argIssues)}`);
    const out = await local(fn, a);
    const outIssues = validate(t.returns, out);
    if (outIssues.length) problems.push(`${target} result ${JSON.stringify(out)?.slice(0, 80)}: ${JSON.stringify(outIssues)}`);
  }
  assert.equal(problems, []);
});

corpus('what one package produces is a valid argument where another function takes it', async () => {
  assert.equal(validate(args('formatDuration'), [dateFns.intervalToDuration({ start: DAY, end: LATER })]), []);
  assert.equal(validate(args('stringifyParsedURL'), [ufo.parseURL('https://example.com/a?b#c')]), []);
  assert.equal(validate(args('formatPatch'), [patch]), []);
  assert.equal(validate(args('applyPatch'), ['one\ntwo\n', jsdiff.parsePatch(jsdiff.createPatch('f', 'one\ntwo\n', 'one\n'))[0]]), []);
  assert.equal(validate(args('bytesToHex'), [sha256(utf8ToBytes('x'))]), []);
});

corpus('schemas reject deliberately broken values at the expected path', () => {
  assert.equal(validate(args('formatDuration'), [{ years: 'one' }]), [{ path: '/0/years', message: 'expected number' }]);
  assert.equal(validate(args('differenceInDays'), [DAY]), [{ path: '', message: 'expected at least 2 items' }]);
  assert.equal(validate(args('formatDate'), [DAY, 12]), [{ path: '/1', message: 'expected string' }]);
  const hunk = structuredClone(patch);
  (hunk.hunks[0]!.lines as unknown[])[1] = 7;
  // StructuredPatch | StructuredPatch[]: reported inside the patch, not as "expected StructuredPatch | array".
  assert.equal(validate(args('formatPatch'), [hunk]), [{ path: '/0/hunks/0/lines/1', message: 'expected string' }]);
  assert.equal(validate(args('reversePatch'), [{ ...patch, hunks: [{ ...patch.hunks[0]!, oldStart: '1' }] }]).length > 0, true);
  assert.equal(validate(args('withQuery'), ['/a', 'q=1']), [{ path: '/1', message: 'expected object' }]);
  assert.equal(validate(args('uuidParse'), [42]), [{ path: '/0', message: 'expected string' }]);
  assert.equal(validate(args('sha256'), ['abc']).length > 0, true);
  assert.equal(validate(args('basename'), ['/a', '.txt', 'extra']), [{ path: '', message: 'expected at most 2 items' }]);
  assert.equal(validate(args('range'), [1, 'x']).length > 0, true);
});

corpus('a served sandbox returns what calling the package locally returns', async () => {
  let served: Served | undefined;
  let client: RuntimeClient | undefined;
  try {
    served = await serve(work, { timeoutMs: 120_000 });
    client = await RuntimeClient.connect(served.url, { token: served.token });
    const { createRemote } = await import(pathToFileURL(join(work, 'agentix-gen', 'client.ts')).href);
    const remote = createRemote(client);
    const mismatches: string[] = [];
    for (const [target, a, fn] of CALLS) {
      const got = await remote[target](...a);
      const want = await local(fn, a);
      try {
        assert.equal(got, want);
      } catch {
        mismatches.push(`${target}(${JSON.stringify(a).slice(1, -1).slice(0, 60)}): sandbox ${JSON.stringify(got)?.slice(0, 100)}, local ${JSON.stringify(want)?.slice(0, 100)}`);
      }
    }
    assert.equal(mismatches, []);
  } finally {
    await client?.close().catch(() => undefined);
    await served?.stop();
  }
});

corpus.run();
