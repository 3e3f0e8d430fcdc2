/**
 * Finds a module's exported functions and turns each signature into a
 * `TargetModel`: shape (unary / stream / bidi), parameters, result and inbox
 * types, all as type models.
 */
import { isReference } from './model/flags.js';
import { Node, ts, type SourceFile } from 'ts-morph';
import { channelItemType } from './channel.js';
import type { ModelContext } from './model/context.js';
import { convertWithoutUndefined } from './model/union.js';
import type { ParamModel, TargetModel, TypeModel } from './model/types.js';

const ASYNC_ITERABLES = new Set(['AsyncGenerator', 'AsyncIterable', 'AsyncIterableIterator', 'AsyncIterator']);
const SYNC_ITERABLES = new Set(['Generator', 'IterableIterator', 'Iterator']);

export function analyzeModule(sourceFile: SourceFile, moduleId: string, ctx: ModelContext): TargetModel[] {
  const targets: TargetModel[] = [];
  for (const [exportName, decls] of sourceFile.getExportedDeclarations()) {
    const found = pickFunction(exportName, decls, ctx, sourceFile);
    if (!found) continue;
    const name = moduleId === 'app' ? exportName : `${moduleId}.${exportName}`;
    targets.push(analyzeSignature(name, moduleId, exportName, found.node, found.signature, ctx));
  }
  return targets.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

interface FoundFunction {
  node: ts.Node;
  signature: ts.Signature;
}

/** The callable behind an export, or undefined for type-only / data exports. */
function pickFunction(exportName: string, decls: Node[], ctx: ModelContext, module: SourceFile): FoundFunction | undefined {
  const c = ctx.checker;
  const first = decls[0];
  if (!first) return undefined;
  const label = `export "${exportName}"`;
  const cls = decls.find((d) => Node.isClassDeclaration(d) || Node.isClassExpression(d));
  if (cls) {
    return ctx.at(cls.compilerNode, label, () => ctx.fail('classes cannot be called remotely; export plain functions (a class instance would lose its methods on the wire)'));
  }
  const fns = decls.filter((d) => Node.isFunctionDeclaration(d));
  if (fns.length > 0) {
    // Overloads: the implementation's signature (it accepts every overload's arguments).
    const impl = fns.find((d) => Node.isFunctionDeclaration(d) && d.hasBody()) ?? fns[fns.length - 1]!;
    const signature = c.getSignatureFromDeclaration(impl.compilerNode as ts.FunctionDeclaration);
    return signature ? { node: impl.compilerNode, signature } : undefined;
  }
  if (decls.every((d) => Node.isInterfaceDeclaration(d) || Node.isTypeAliasDeclaration(d) || Node.isEnumDeclaration(d))) return undefined;
  if (Node.isSourceFile(first) || Node.isModuleDeclaration(first)) {
    ctx.warnings.push(`${ctx.relativeFile(module.getFilePath())}: ${label} is a namespace (export * as / namespace); its functions are not targets — export them individually`);
    return undefined;
  }
  // const f = async () => ..., const f = function () {}, or a value typed as a function.
  let node: ts.Node = first.compilerNode;
  const init = Node.isVariableDeclaration(first) ? first.getInitializer() : Node.isExportAssignment(first) ? first.getExpression() : undefined;
  if (init && (Node.isArrowFunction(init) || Node.isFunctionExpression(init))) {
    const signature = c.getSignatureFromDeclaration(init.compilerNode);
    if (signature) return { node: init.compilerNode, signature };
  }
  const type = c.getTypeAtLocation(Node.isVariableDeclaration(first) ? first.getNameNode().compilerNode : (init?.compilerNode ?? node));
  const signatures = type.getCallSignatures();
  if (signatures.length === 0) {
    if (type.getConstructSignatures().length > 0) return ctx.at(node, label, () => ctx.fail('classes cannot be called remotely; export plain functions'));
    return undefined; // data (export const VERSION = '1'): not a target
  }
  const signature = signatures[signatures.length - 1]!;
  node = signature.getDeclaration() ?? node;
  return { node, signature };
}

function analyzeSignature(name: string, moduleId: string, exportName: string, node: ts.Node, sig: ts.Signature, ctx: ModelContext): TargetModel {
  const c = ctx.checker;
  const where = ctx.locate(node, `function ${name}`);
  return ctx.at(node, `function ${name}`, () => {
    if (sig.typeParameters && sig.typeParameters.length > 0) {
      ctx.fail(`generic function <${sig.typeParameters.map((t) => ctx.typeText(t)).join(', ')}>: the compiler needs concrete types to check arguments; export a non-generic wrapper`);
    }
    const params: ParamModel[] = [];
    let inbox: TypeModel | undefined;
    let inboxIndex: number | undefined;
    sig.getParameters().forEach((symbol, i) => {
      const decl = symbol.valueDeclaration as ts.ParameterDeclaration | undefined;
      const pname = decl && ts.isIdentifier(decl.name) ? decl.name.text : decl ? `arg${i}` : symbol.name;
      ctx.at(decl, `parameter "${pname}" of ${name}`, () => {
        const type = decl ? c.getTypeOfSymbolAtLocation(symbol, decl) : c.getTypeOfSymbol(symbol);
        const item = channelItemType(type, c);
        if (item) {
          if (inbox) ctx.fail('a function can have only one Channel parameter');
          inbox = ctx.convert(item);
          inboxIndex = i;
          return;
        }
        const rest = !!decl?.dotDotDotToken;
        const optional = !rest && !!decl && c.isOptionalParameter(decl);
        if (rest) {
          if (!c.isArrayType(type)) ctx.fail(`rest parameter of type ${ctx.typeText(type)}: only array rest parameters (...xs: T[]) are supported`);
          const [element] = c.getTypeArguments(type as ts.TypeReference);
          params.push({ name: pname, type: ctx.convert(element!), rest: true });
        } else if (optional) {
          params.push({ name: pname, type: convertWithoutUndefined(type, ctx), optional: true });
        } else {
          params.push({ name: pname, type: ctx.convert(type) });
        }
      });
    });
    const declared = ts.isFunctionLike(node) ? node.type : undefined;
    const result = ctx.at(declared ?? node, `result of ${name}`, () => analyzeResult(sig.getReturnType(), ctx));
    if (inbox && result.shape !== 'stream') {
      ctx.fail('a function with a Channel parameter (bidi) must return an AsyncIterable, e.g. be an async generator (async function*)');
    }
    const target: TargetModel = {
      name, module: moduleId, export: exportName,
      shape: inbox ? 'bidi' : result.shape,
      params, returns: result.type,
      file: where.file, line: where.line,
    };
    if (inbox) Object.assign(target, { inbox, inboxIndex });
    const doc = ts.displayPartsToString(sig.getDocumentationComment(c)).trim();
    if (doc) target.doc = doc;
    return target;
  });
}

function analyzeResult(ret: ts.Type, ctx: ModelContext): { shape: 'unary' | 'stream'; type: TypeModel } {
  const c = ctx.checker;
  const item = asyncIterableItem(ret, ctx);
  if (item) return { shape: 'stream', type: ctx.convert(item) };
  const sym = ret.getSymbol();
  if (sym && SYNC_ITERABLES.has(sym.name) && ctx.isFromDefaultLib(sym)) {
    ctx.fail(`returns a synchronous ${sym.name} (${ctx.typeText(ret)}); to stream items make it an async generator (async function*)`);
  }
  const awaited = c.getAwaitedType(ret) ?? ret;
  if (awaited !== ret && asyncIterableItem(awaited, ctx)) {
    ctx.fail(`returns a Promise of an AsyncIterable (${ctx.typeText(ret)}); make it an async generator (async function*) or return the iterable directly`);
  }
  return { shape: 'unary', type: ctx.convert(awaited) };
}

function asyncIterableItem(type: ts.Type, ctx: ModelContext): ts.Type | undefined {
  const symbol = type.getSymbol();
  if (!symbol || !ASYNC_ITERABLES.has(symbol.name) || !ctx.isFromDefaultLib(symbol)) return undefined;
  const args = isReference(type) ? ctx.checker.getTypeArguments(type as ts.TypeReference) : [];
  return args[0] ?? ctx.checker.getUnknownType();
}
