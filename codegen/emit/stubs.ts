/**
 * `client.ts`: the typed stubs. Self-contained on purpose: it declares the
 * structural `RemoteClient` it needs (agentix's `RuntimeClient` satisfies it)
 * and the named types, so it type-checks without importing user code or
 * agentix, and nothing of the user's code is loaded on the host.
 */
import type { ParamModel, ProgramModel, TargetModel, TypeModel } from '../model/types.js';
import { HEADER } from './header.js';

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (name: string) => (IDENT.test(name) ? name : JSON.stringify(name));

/** TypeScript text of a type model; `wrap` parenthesises unions etc. inside arrays. */
export function typeText(m: TypeModel, wrap = false): string {
  const paren = (s: string) => (wrap ? `(${s})` : s);
  switch (m.kind) {
    case 'string': case 'number': case 'boolean': case 'bigint': case 'null': case 'undefined': case 'unknown': case 'any': case 'never': case 'void':
      return m.kind;
    case 'literal':
      return typeof m.value === 'string' ? JSON.stringify(m.value) : String(m.value);
    case 'enum':
      return paren(m.members.map((x) => (typeof x.value === 'string' ? JSON.stringify(x.value) : String(x.value))).join(' | '));
    case 'array':
      return `${typeText(m.items, true)}[]`;
    case 'tuple':
      return `[${m.elements.map((e) => (e.rest ? `...${typeText(e.type, true)}[]` : `${typeText(e.type, !!e.optional)}${e.optional ? '?' : ''}`)).join(', ')}]`;
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
  if (p.rest) return `...${name}: ${typeText(p.type, true)}[]`;
  return `${name}${p.optional ? '?' : ''}: ${typeText(p.type)}`;
}

function resultText(t: TargetModel): string {
  const item = typeText(t.returns);
  if (t.shape === 'unary') return `Promise<${item}>`;
  if (t.shape === 'stream') return `AsyncIterable<${item}>`;
  return `BidiCall<${typeText(t.inbox!)}, ${item}>`;
}

/** `run(input: string, callOptions?: CallOptions): Promise<number>` — also used by the summary table. */
export function signatureText(t: TargetModel, withOptions = true): string {
  const params = t.params.map(paramText);
  const hasRest = t.params.some((p) => p.rest);
  if (withOptions && !hasRest) params.push('callOptions?: CallOptions');
  return `(${params.join(', ')}): ${resultText(t)}`;
}

const METHOD = { unary: 'call', stream: 'stream', bidi: 'bidi' } as const;

/** One stub: the caller's arguments up to the parameter count, then the optional call options. */
function stubImpl(t: TargetModel): string {
  const method = METHOD[t.shape];
  if (t.params.some((p) => p.rest)) return `(...args: unknown[]) => client.${method}(${JSON.stringify(t.name)}, args, defaults)`;
  const n = t.params.length;
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
    '/** Per-call options (the same fields as agentix\'s `CallOptions`). */',
    'export interface CallOptions {',
    '  /** Deadline for the whole call, in milliseconds; enforced on the server too. */',
    '  timeoutMs?: number;',
    '  /** Aborting cancels the call, and the running function sees its own signal aborted. */',
    '  signal?: AbortSignal;',
    '  /** Stream flow control: how many items the server may send ahead. */',
    '  credit?: number;',
    '}',
    '',
    '/** A bidirectional call: `send` inbox items, `close` the inbox, iterate the results. */',
    'export interface BidiCall<I, O> extends AsyncIterable<O> {',
    '  send(item: I): void;',
    '  close(): void;',
    '}',
    '',
    '/** What `createRemote` needs; agentix\'s `RuntimeClient` satisfies it. */',
    'export interface RemoteClient {',
    '  call<T>(target: string, args: unknown[], options?: CallOptions): Promise<T>;',
    '  stream<T>(target: string, args: unknown[], options?: CallOptions): AsyncIterable<T>;',
    '  bidi<I, O>(target: string, args: unknown[], options?: CallOptions): BidiCall<I, O>;',
    '}',
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
  for (const t of g.targets) out.push(doc(t, '  '), `  ${key(t.name)}${signatureText(t)};`);
  for (const [ns, list] of g.namespaces) {
    out.push(`  readonly ${key(ns)}: {`);
    for (const t of list) out.push(doc(t, '    '), `    ${key(t.export)}${signatureText(t)};`);
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
  if (program.targets.some((t) => !t.params.some((p) => p.rest))) {
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
