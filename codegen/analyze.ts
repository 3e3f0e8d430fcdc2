/**
 * Finds a module's exported functions and turns each into a `TargetModel`:
 * shape (unary / stream / bidi), every wire-compatible overload's parameters
 * and result, the inbox type — all as type models.
 *
 * A function is what the checker says the export is: a function declaration,
 * or any value whose *declared* type has call signatures (`export const
 * basename: typeof path.basename = …`, a callable object like a hash
 * function with properties). A refused export does not stop the analysis:
 * every refusal of the run is collected, one per export and problem.
 */
import { ts } from './ts.js';
import type { ts as TS } from 'ts-morph';
import { channelItemType } from './channel.js';
import { GenError, type Refusal } from './errors.js';
import { moduleExports, type ModuleExport } from './exports.js';
import { docComment } from './program.js';
import { isOnlyCallable } from './model/callable.js';
import type { ModelContext } from './model/context.js';
import { isReference } from './model/flags.js';
import { sameModel } from './model/merge.js';
import { convertWithoutUndefined, unionModel } from './model/union.js';
import { isErrorType } from './model/unresolved.js';
import type { ParamModel, SignatureModel, TargetModel, TypeModel } from './model/types.js';

const ASYNC_ITERABLES = new Set(['AsyncGenerator', 'AsyncIterable', 'AsyncIterableIterator', 'AsyncIterator', 'AsyncIteratorObject']);
const SYNC_ITERABLES = new Set(['Generator', 'IterableIterator', 'Iterator', 'IteratorObject']);

export interface ModuleResult {
  targets: TargetModel[];
  refusals: Refusal[];
  /** Target names left out by `"agentix": { "exclude": [...] }`. */
  excluded: string[];
}

/** Several problems of one export (two bad parameters, every overload refused). */
class Problems extends GenError {
  constructor(readonly all: GenError[]) {
    super(all[0]!.detail, all[0]!.file, all[0]!.line, all[0]!.refusal);
  }
}

export function analyzeModule(sf: TS.SourceFile, moduleId: string, ctx: ModelContext, exclude: ReadonlySet<string>, out: ModuleResult): void {
  const siteFile = ctx.displayFile(sf.fileName);
  for (const e of moduleExports(sf, ctx.checker)) {
    const name = moduleId === 'app' ? e.name : `${moduleId}.${e.name}`;
    if (exclude.has(name)) {
      out.excluded.push(name);
      continue;
    }
    const site = { file: siteFile, line: e.line };
    try {
      const target = ctx.attempt(() => analyzeExport(name, moduleId, e, site, ctx));
      ctx.settle();
      if (target) out.targets.push(target);
    } catch (err) {
      if (!(err instanceof GenError)) throw err;
      const all = err instanceof Problems ? err.all : [err];
      const seen = new Set<string>();
      for (const error of all) {
        if (seen.has(error.message)) continue;
        seen.add(error.message);
        out.refusals.push({ export: name, site, error });
      }
    }
  }
}

/** The target behind an export, or undefined for type-only / data exports. */
function analyzeExport(name: string, moduleId: string, e: ModuleExport, site: { file: string; line: number }, ctx: ModelContext): TargetModel | undefined {
  const c = ctx.checker;
  const F = ts.SymbolFlags;
  const sym = e.target;
  const decl = sym.valueDeclaration ?? sym.declarations?.[0];
  const label = `export "${e.name}"`;
  // Problems of the export itself carry no label: the refusal line already names the export.
  if (!decl) {
    // `export { x } from 'missing'`: the alias leads nowhere.
    ctx.unsure(`export ${name} does not resolve`);
    throw new GenError('does not resolve (a missing module, or a name the module does not export)', site.file, site.line, 'unresolved');
  }
  if (e.name === 'export=') {
    ctx.warnings.push(`${site.file}:${site.line}: \`export =\` is not an ES module export; its functions are not targets — use named exports`);
    return undefined;
  }
  if (sym.flags & F.Class) return ctx.at(decl, '', () => ctx.fail('classes cannot be called remotely; export plain functions (a class instance would lose its methods on the wire)'));
  if (!(sym.flags & F.Value) || sym.flags & F.Enum) return undefined;
  if (!(sym.flags & (F.Function | F.Variable | F.Property)) && sym.flags & (F.ValueModule | F.NamespaceModule)) {
    ctx.warnings.push(`${site.file}:${site.line}: ${label} is a namespace (export * as / namespace); its functions are not targets — export them individually`);
    return undefined;
  }
  // The declared type: for `const f: typeof g = (a, b) => …` the annotation, not the arrow's own (untyped) parameters.
  const type = c.getTypeOfSymbol(sym);
  if (isErrorType(type)) {
    ctx.unsure(`the type of export ${name} does not resolve`);
    return ctx.at(decl, '', () => ctx.fail('its type does not resolve (a missing import or a type that does not exist); the compiler cannot say whether it is a function', 'unresolved'));
  }
  if (type.flags & ts.TypeFlags.Any) {
    const spelled = (decl as { type?: TS.Node }).type?.kind === ts.SyntaxKind.AnyKeyword;
    if (!spelled) ctx.unsure(`export ${name} is typed any`);
    ctx.warnings.push(`${site.file}:${site.line}: ${label} is typed \`any\`, so nothing says it can be called; not a target (give it a function type)`);
    return undefined;
  }
  const signatures = type.getCallSignatures();
  if (signatures.length === 0) {
    if (type.getConstructSignatures().length > 0) return ctx.at(decl, '', () => ctx.fail('classes cannot be called remotely; export plain functions'));
    return undefined; // data (export const VERSION = '1'): not a target
  }
  return analyzeFunction(name, moduleId, e.name, decl, signatures, site, ctx);
}

interface Analysed {
  shape: 'unary' | 'stream' | 'bidi';
  signature: SignatureModel;
  inbox?: TypeModel;
  inboxIndex?: number;
}

function analyzeFunction(name: string, moduleId: string, exportName: string, decl: TS.Node, signatures: readonly TS.Signature[], site: { file: string; line: number }, ctx: ModelContext): TargetModel {
  const kept: Analysed[] = [];
  const failures: GenError[] = [];
  const dropped: string[] = [];
  let droppable = true;
  signatures.forEach((sig, i) => {
    const node = sig.getDeclaration() ?? decl;
    try {
      kept.push(ctx.attempt(() => analyzeSignature(name, node, sig, ctx)));
    } catch (err) {
      if (!(err instanceof GenError)) throw err;
      const all = err instanceof Problems ? err.all : [err];
      failures.push(...all);
      // An overload that needs a function (or is generic) cannot be called remotely; the others still can.
      droppable &&= all.every((x) => x.refusal === 'wire');
      const where = ctx.locate(node, '');
      dropped.push(`${site.file}:${site.line}: export ${name}: overload ${i + 1} of ${signatures.length} (${where.file}:${where.line}) left out: ${all[0]!.detail}`);
    }
  });
  if (kept.length === 0 || !droppable) throw new Problems(failures);
  for (const d of dropped) ctx.note(d);
  const first = kept[0]!;
  return ctx.at(signatures[0]!.getDeclaration() ?? decl, `function ${name}`, () => {
    if (kept.some((k) => k.shape !== first.shape)) ctx.fail(`its overloads have different call shapes (${[...new Set(kept.map((k) => k.shape))].join(', ')}); export one function per shape`);
    if (first.shape === 'bidi' && kept.some((k) => k.inboxIndex !== first.inboxIndex || !sameModel(k.inbox!, first.inbox!))) {
      ctx.fail('its overloads take different Channel parameters; export one bidi function per inbox type');
    }
    // The export's own declaration (`const sha256: CHash = …`, the first overload), not the type it borrows its call signature from.
    const where = ctx.locate(decl, '');
    const unique: SignatureModel[] = [];
    for (const k of kept) if (!unique.some((u) => sameSignature(u, k.signature))) unique.push(k.signature);
    const target: TargetModel = { name, module: moduleId, export: exportName, shape: first.shape, signatures: unique, file: where.file, line: where.line };
    if (first.inbox) Object.assign(target, { inbox: first.inbox, inboxIndex: first.inboxIndex });
    const doc = docOf(signatures[0]!, decl);
    if (doc) target.doc = doc;
    return target;
  });
}

const sameSignature = (a: SignatureModel, b: SignatureModel) =>
  sameModel(a.returns, b.returns) && a.params.length === b.params.length && a.params.every((p, i) => JSON.stringify(p) === JSON.stringify(b.params[i]));

/** The documentation a stub carries: the first overload's, else the export's own (`const f: typeof g`). */
function docOf(sig: TS.Signature, decl: TS.Node): string | undefined {
  const own = sig.getDeclaration();
  return (own && docComment(own)) || docComment(ts.isVariableDeclaration(decl) ? decl : decl);
}

interface ParamInfo {
  symbol: TS.Symbol;
  decl: TS.ParameterDeclaration | undefined;
  name: string;
  type: TS.Type;
  optional: boolean;
  rest: boolean;
}

function analyzeSignature(name: string, node: TS.Node, sig: TS.Signature, ctx: ModelContext): Analysed {
  const c = ctx.checker;
  return ctx.at(node, `function ${name}`, () => {
    if (sig.typeParameters && sig.typeParameters.length > 0) {
      const params = sig.typeParameters;
      ctx.fail(() => `generic function <${params.map((t) => ctx.typeText(t)).join(', ')}>: the compiler needs concrete types to check arguments; export a non-generic wrapper`, 'wire');
    }
    const errors: GenError[] = [];
    const collect = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        if (!(err instanceof GenError)) throw err;
        errors.push(...(err instanceof Problems ? err.all : [err]));
      }
    };
    const infos: ParamInfo[] = sig.getParameters().map((symbol, i) => {
      const decl = symbol.valueDeclaration && ts.isParameter(symbol.valueDeclaration) ? symbol.valueDeclaration : undefined;
      const pname = decl && ts.isIdentifier(decl.name) ? decl.name.text : decl ? `arg${i}` : symbol.name;
      const rest = !!decl?.dotDotDotToken;
      return { symbol, decl, name: pname, type: c.getTypeOfSymbol(symbol), rest, optional: !rest && !!decl && (!!decl.questionToken || !!decl.initializer || c.isOptionalParameter(decl)) };
    });
    // Optional callbacks are not on the wire: trailing ones are left out, one before a data parameter takes only `undefined`.
    const callbackOnly = (p: ParamInfo) => p.optional && isOnlyCallable(p.type, ctx);
    let wireCount = infos.length;
    while (wireCount > 0 && callbackOnly(infos[wireCount - 1]!)) wireCount--;
    const params: ParamModel[] = [];
    let inbox: TypeModel | undefined;
    let inboxIndex: number | undefined;
    infos.forEach((p, i) => collect(() => ctx.at(p.decl, `parameter "${p.name}" of ${name}`, () => {
      if (callbackOnly(p)) {
        ctx.note(`optional function-typed parameter ${i < wireCount ? 'takes only undefined' : 'left out'} on the wire (functions cannot cross the wire)`);
        if (i < wireCount) params.push({ name: p.name, type: { kind: 'undefined' }, optional: true });
        return;
      }
      const item = channelItemType(p.type, c);
      if (item) {
        if (inbox) ctx.fail('a function can have only one Channel parameter');
        inbox = ctx.convertAs('in', item);
        inboxIndex = i;
        return;
      }
      if (p.rest) {
        // An array, or a union of arrays (`Uint8Array[] | Bytes[]`, as helper types produce): the elements' union.
        const arrays = p.type.isUnion() ? p.type.types : [p.type];
        if (!arrays.every((t) => c.isArrayType(t))) ctx.fail(`rest parameter of type ${ctx.typeText(p.type)}: only array rest parameters (...xs: T[]) are supported`);
        const elements = arrays.map((t) => c.getTypeArguments(t as TS.TypeReference)[0]!);
        const readonly = arrays.every((t) => t.getSymbol()?.name === 'ReadonlyArray');
        const type = ctx.convertAs('in', elements[0]!, () => unionModel(elements, ctx));
        params.push({ name: p.name, type, rest: true, ...(readonly ? { readonly } : {}) });
      } else if (p.optional) {
        params.push({ name: p.name, type: ctx.convertAs('in', p.type, (t) => convertWithoutUndefined(t, ctx)), optional: true });
      } else {
        params.push({ name: p.name, type: ctx.convertAs('in', p.type) });
      }
    })));
    const declared = ts.isFunctionLike(node) ? node.type : undefined;
    let result: { shape: 'unary' | 'stream'; type: TypeModel } | undefined;
    collect(() => {
      result = ctx.at(declared ?? node, `result of ${name}`, () => analyzeResult(sig.getReturnType(), ctx));
    });
    if (errors.length > 0) throw new Problems(errors);
    if (inbox && result!.shape !== 'stream') {
      ctx.fail('a function with a Channel parameter (bidi) must return an AsyncIterable, e.g. be an async generator (async function*)');
    }
    const analysed: Analysed = { shape: inbox ? 'bidi' : result!.shape, signature: { params, returns: result!.type } };
    if (inbox) Object.assign(analysed, { inbox, inboxIndex });
    return analysed;
  });
}

function analyzeResult(ret: TS.Type, ctx: ModelContext): { shape: 'unary' | 'stream'; type: TypeModel } {
  const c = ctx.checker;
  const item = asyncIterableItem(ret, ctx);
  if (item) return { shape: 'stream', type: ctx.convertAs('out', item) };
  const sym = ret.getSymbol();
  if (sym && SYNC_ITERABLES.has(sym.name) && ctx.isFromDefaultLib(sym)) {
    ctx.fail(`returns a synchronous ${sym.name} (${ctx.typeText(ret)}); to stream items make it an async generator (async function*)`);
  }
  const awaited = c.getAwaitedType(ret) ?? ret;
  if (awaited !== ret && asyncIterableItem(awaited, ctx)) {
    ctx.fail(`returns a Promise of an AsyncIterable (${ctx.typeText(ret)}); make it an async generator (async function*) or return the iterable directly`);
  }
  return { shape: 'unary', type: ctx.convertAs('out', awaited) };
}

function asyncIterableItem(type: TS.Type, ctx: ModelContext): TS.Type | undefined {
  const symbol = type.getSymbol();
  if (!symbol || !ASYNC_ITERABLES.has(symbol.name) || !ctx.isFromDefaultLib(symbol)) return undefined;
  const args = isReference(type) ? ctx.checker.getTypeArguments(type as TS.TypeReference) : [];
  return args[0] ?? ctx.checker.getUnknownType();
}
