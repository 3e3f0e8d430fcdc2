/**
 * `client.ts`: the typed stubs. The call contract (`RemoteClient`,
 * `CallOptions`, `RemoteStream`, `BidiCall`) comes from the agentix package
 * itself — one definition for the client and the stubs — as type-only
 * imports, re-exported for code that imports them from the generated file.
 * The named types are declared here, so nothing of the user's code is loaded
 * (or even type-checked) on the host.
 */
import type { ParamModel, ProgramModel, SignatureModel, TargetModel, TypeModel } from '../model/types.js';
import { HEADER } from './header.js';

/** The types of agentix's call contract the stubs use (runtime/client.ts). */
const CONTRACT = ['BidiCall', 'CallOptions', 'RemoteClient', 'RemoteStream'];

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (name: string) => (IDENT.test(name) ? name : JSON.stringify(name));

/** TypeScript text of a type model; `wrap` parenthesises unions etc. inside arrays. */
export function typeText(m: TypeModel, wrap = false): string {
  const paren = (s: string) => (wrap ? `(${s})` : s);
  switch (m.kind) {
    case 'string': case 'number': case 'boolean': case 'bigint': case 'null': case 'undefined': case 'unknown': case 'any': case 'never': case 'void':
      return m.kind;
    case 'nonPrimitive':
      return 'object';
    case 'nonNullish':
      return '{}';
    case 'literal':
      return typeof m.value === 'string' ? JSON.stringify(m.value) : String(m.value);
    case 'enum':
      return paren(m.members.map((x) => (typeof x.value === 'string' ? JSON.stringify(x.value) : String(x.value))).join(' | '));
    case 'array':
      return m.readonly ? paren(`readonly ${typeText(m.items, true)}[]`) : `${typeText(m.items, true)}[]`;
    case 'tuple': {
      const text = `[${m.elements.map((e) => (e.rest ? `...${typeText(e.type, true)}[]` : `${typeText(e.type, !!e.optional)}${e.optional ? '?' : ''}`)).join(', ')}]`;
      return m.readonly ? paren(`readonly ${text}`) : text;
    }
    case 'object': {
      const members = m.properties.map((p) => `${key(p.name)}${p.optional ? '?' : ''}: ${typeText(p.type)}`);
      if (m.index) members.push(`[key: string]: ${typeText(m.index)}`);
      return members.length === 0 ? '{}' : `{ ${members.join('; ')} }`;
    }
    case 'union':
      return paren(m.members.map((x) => typeText(x, true)).join(' | '));
    case 'intersection':
      return paren(m.members.map((x) => typeText(x, true)).join(' & '));
    case 'date':
      return 'Date';
    case 'bytes':
      return m.buffer ? 'Buffer' : 'Uint8Array';
    case 'template':
      return '`' + m.parts.map((p) => (typeof p === 'string' ? p.replace(/[`\\]|\$\{/g, (s) => '\\' + s) : '${' + typeText(p) + '}')).join('') + '`';
    case 'ref':
      return m.name;
  }
}

function paramText(p: ParamModel): string {
  const name = IDENT.test(p.name) && p.name !== 'callOptions' ? p.name : `${p.name.replace(/[^A-Za-z0-9_$]/g, '_')}_`;
  if (p.rest) return `...${name}: ${p.readonly ? 'readonly ' : ''}${typeText(p.type, true)}[]`;
  return `${name}${p.optional ? '?' : ''}: ${typeText(p.type)}`;
}

function resultText(t: TargetModel, s: SignatureModel): string {
  const item = typeText(s.returns);
  if (t.shape === 'unary') return `Promise<${item}>`;
  if (t.shape === 'stream') return `RemoteStream<${item}>`;
  return `BidiCall<${typeText(t.inbox!)}, ${item}>`;
}

/**
 * Where the call options go: after the longest overload's parameters. A
 * rest parameter leaves no such place (options go through `$with`).
 */
function optionsIndex(t: TargetModel): number | undefined {
  if (t.signatures.some((s) => s.params.some((p) => p.rest))) return undefined;
  return Math.max(...t.signatures.map((s) => s.params.length));
}

/**
 * `run(input: string, callOptions?: CallOptions): Promise<number>`, one per
 * overload. Only overloads as long as the longest take the trailing call
 * options: in a shorter one that position is an argument of a longer one.
 */
export function signatureTexts(t: TargetModel): string[] {
  const at = optionsIndex(t);
  return t.signatures.map((s) => {
    const params = s.params.map(paramText);
    if (at !== undefined && s.params.length === at) params.push('callOptions?: CallOptions');
    return `(${params.join(', ')}): ${resultText(t, s)}`;
  });
}

const METHOD = { unary: 'call', stream: 'stream', bidi: 'bidi' } as const;

/** One stub: the caller's arguments up to the parameter count, then the optional call options. */
function stubImpl(t: TargetModel): string {
  const method = METHOD[t.shape];
  const n = optionsIndex(t);
  if (n === undefined) return `(...args: unknown[]) => client.${method}(${JSON.stringify(t.name)}, args, defaults)`;
  return `(...args: unknown[]) => client.${method}(${JSON.stringify(t.name)}, args.slice(0, ${n}), withDefaults(args[${n}]))`;
}

interface Group { targets: TargetModel[]; namespaces: Map<string, TargetModel[]> }

function group(program: ProgramModel): Group {
  const g: Group = { targets: [], namespaces: new Map() };
  for (const t of [...program.targets].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (t.module === 'app') g.targets.push(t);
    else {
      const list = g.namespaces.get(t.module) ?? [];
      list.push(t);
      g.namespaces.set(t.module, list);
    }
  }
  return g;
}

export function clientFile(program: ProgramModel): string {
  const g = group(program);
  const out: string[] = [HEADER, ''];
  out.push(
    '// The call contract is agentix\'s own (its RuntimeClient is a RemoteClient); re-exported for imports from this file.',
    `import type { ${CONTRACT.join(', ')} } from 'agentix';`,
    `export type { ${CONTRACT.join(', ')} };`,
    '',
  );
  for (const d of [...program.defs].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    out.push(`export type ${d.name} = ${typeText(d.model)};`);
  }
  if (program.defs.length > 0) out.push('');
  const doc = (t: TargetModel, indent: string) => {
    const where = `\`${t.name}\` (${t.shape}) — ${t.file}:${t.line}`;
    if (!t.doc) return `${indent}/** ${where} */`;
    const lines = [...t.doc.replace(/\*\//g, '*\\/').split('\n'), '', where];
    return [`${indent}/**`, ...lines.map((l) => `${indent} *${l ? ' ' + l : ''}`), `${indent} */`].join('\n');
  };
  out.push('/** The project\'s functions, called in the sandbox. */', 'export interface Remote {');
  const methods = (t: TargetModel, name: string, indent: string) => signatureTexts(t).map((sig) => `${doc(t, indent)}\n${indent}${key(name)}${sig};`);
  for (const t of g.targets) out.push(...methods(t, t.name, '  '));
  for (const [ns, list] of g.namespaces) {
    out.push(`  readonly ${key(ns)}: {`);
    for (const t of list) out.push(...methods(t, t.export, '    '));
    out.push('  };');
  }
  out.push(
    '  /** The same remote with `options` applied to every call (a call\'s own options win). The way to pass options to functions with a rest parameter. */',
    '  $with(options: CallOptions): Remote;',
    '}',
    '',
    '/** Typed stubs over a connected client: `createRemote(client).run(input)`. */',
    'export function createRemote(client: RemoteClient, defaults: CallOptions = {}): Remote {',
  );
  if (program.targets.some((t) => optionsIndex(t) !== undefined)) {
    out.push('  const withDefaults = (options: unknown): CallOptions => (options ? { ...defaults, ...(options as CallOptions) } : defaults);');
  }
  out.push('  const remote = {');
  for (const t of g.targets) out.push(`    ${key(t.name)}: ${stubImpl(t)},`);
  for (const [ns, list] of g.namespaces) {
    out.push(`    ${key(ns)}: {`);
    for (const t of list) out.push(`      ${key(t.export)}: ${stubImpl(t)},`);
    out.push('    },');
  }
  out.push(
    '    $with: (options: CallOptions) => createRemote(client, { ...defaults, ...options }),',
    '  };',
    '  return remote as unknown as Remote;',
    '}',
    '',
  );
  return out.join('\n');
}
