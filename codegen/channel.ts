/**
 * Is this parameter type agentix's `Channel<I>`? Decided by where the type is
 * declared: `runtime/channel.ts` (or its `.d.ts` / the dist equivalent) inside
 * a package named "agentix". A type merely named Channel elsewhere is not.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { isReference } from './model/flags.js';
import type { ts as TS } from 'ts-morph';
import { findPackageRoot } from './config.js';

const packageNameCache = new Map<string, string | undefined>();

function packageNameOf(file: string): { root: string; name: string | undefined } | undefined {
  const root = findPackageRoot(dirname(file));
  if (!root) return undefined;
  if (!packageNameCache.has(root)) {
    let name: string | undefined;
    try {
      name = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).name;
    } catch {
      name = undefined;
    }
    packageNameCache.set(root, name);
  }
  return { root, name: packageNameCache.get(root) };
}

export function isAgentixChannelFile(file: string): boolean {
  const pkg = packageNameOf(file);
  if (!pkg || pkg.name !== 'agentix') return false;
  const rel = relative(pkg.root, file).split(sep).join('/');
  // Sources, declarations next to them, or tsup's dist output (which may bundle
  // declarations into index.d.ts or a chunk).
  return /^(dist\/)?runtime\/channel\.(d\.)?[cm]?ts$/.test(rel) || /^dist\/[^/]*\.d\.[cm]?ts$/.test(rel);
}

/** The item type `I` if `type` is agentix's `Channel<I>`. */
export function channelItemType(type: TS.Type, checker: TS.TypeChecker): TS.Type | undefined {
  const symbol = type.getSymbol() ?? type.aliasSymbol;
  if (symbol?.name !== 'Channel') return undefined;
  const decl = symbol.declarations?.[0];
  if (!decl || !isAgentixChannelFile(decl.getSourceFile().fileName)) return undefined;
  const args = isReference(type) ? checker.getTypeArguments(type as TS.TypeReference) : type.aliasTypeArguments;
  return args?.[0] ?? checker.getUnknownType();
}
