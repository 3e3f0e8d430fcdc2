/**
 * The worker's table of callable targets: for each manifest entry, the module
 * import, the export lookup and the compiled validators, done once and cached.
 * A target seen before is returned synchronously (`ready`), so a warm call
 * takes no promise of ours.
 */
import { AgentixError } from '../wire/errors.js';
import type { Manifest, TargetInfo } from '../manifest.js';
import type { ValidateFn, ValidationIssue } from './validate.js';

export type Fn = (...args: unknown[]) => unknown;

export interface Prepared {
  info: TargetInfo;
  fn: Fn;
  checkArgs?: ValidateFn;
  checkResult?: ValidateFn;
  checkInbox?: ValidateFn;
}

export type ModuleLoader = (moduleId: string) => Promise<Record<string, unknown>>;

export interface TargetTableOptions {
  manifest: Manifest;
  load: ModuleLoader;
  /** Check results and stream items against their schemas too (AGENTIX_VALIDATE_RESULTS=1). */
  validateResults?: boolean;
}

export class TargetTable {
  private readonly modules = new Map<string, Promise<Record<string, unknown>>>();
  private readonly preparing = new Map<string, Promise<Prepared>>();
  private readonly prepared = new Map<string, Prepared>();

  private readonly targetCount: number;

  constructor(private readonly opts: TargetTableOptions) {
    this.targetCount = Object.keys(opts.manifest.targets).length;
  }

  get manifest(): Manifest {
    return this.opts.manifest;
  }

  /** The manifest entry of `name`, or undefined (also for inherited keys such as `__proto__`). */
  info(name: string): TargetInfo | undefined {
    const targets = this.opts.manifest.targets;
    return Object.hasOwn(targets, name) ? targets[name] : undefined;
  }

  /** True once every target of the manifest is prepared (nothing left for a call to wait for). */
  get allReady(): boolean {
    return this.prepared.size === this.targetCount;
  }

  /** The prepared target, if an earlier call prepared it. */
  ready(name: string): Prepared | undefined {
    return this.prepared.get(name);
  }

  /** Imports these modules (default: all) up front, so the first call pays no import cost; failures surface per call. */
  async preload(ids: string[] = Object.keys(this.opts.manifest.modules)): Promise<void> {
    await Promise.allSettled(ids.map((id) => this.loadModule(id)));
  }

  /** Module import, export lookup and validator compilation, once per target. Rejects with an AgentixError. */
  prepare(name: string): Promise<Prepared> {
    let p = this.preparing.get(name);
    if (!p) {
      p = this.build(name);
      p.then((ready) => this.prepared.set(name, ready), () => undefined);
      this.preparing.set(name, p);
    }
    return p;
  }

  private loadModule(id: string): Promise<Record<string, unknown>> {
    let m = this.modules.get(id);
    if (!m) {
      m = this.opts.load(id);
      this.modules.set(id, m);
    }
    return m;
  }

  private async build(name: string): Promise<Prepared> {
    const info = this.info(name);
    if (!info) throw new AgentixError('NOT_FOUND', `no function "${name}" in the manifest`, { target: name });
    let mod: Record<string, unknown>;
    try {
      mod = await this.loadModule(info.module);
    } catch (err) {
      throw new AgentixError('INTERNAL', `module "${info.module}" failed to load: ${(err as Error)?.message ?? String(err)}`, undefined, { cause: err });
    }
    const fn = mod[info.export];
    if (typeof fn !== 'function') {
      throw new AgentixError('NOT_FOUND', `module "${info.module}" has no function export "${info.export}" (the manifest is stale: run agentix gen)`, { target: name });
    }
    const defs = this.opts.manifest.$defs;
    const wantsResult = !!this.opts.validateResults && info.returns !== undefined;
    const wantsInbox = info.shape === 'bidi' && info.inbox !== undefined;
    // The validator library loads only when some target has a schema to check.
    const compile = info.args !== undefined || wantsResult || wantsInbox ? (await import('./validate.js')).compileValidator : undefined;
    return {
      info,
      fn: fn as Fn,
      checkArgs: info.args !== undefined ? compile!(info.args, defs) : undefined,
      checkResult: wantsResult ? compile!(info.returns, defs) : undefined,
      checkInbox: wantsInbox ? compile!(info.inbox, defs) : undefined,
    };
  }
}

/** The module id of the project's entry (docs/manifest.md). */
export const APP_MODULE = 'app';

/**
 * The modules a worker imports before it says it is ready: the project's own
 * entry (`app`), so a project that fails or hangs at import still shows at
 * start-up. The plugins' modules (bash and files are ~600 KB of JS with their
 * dependencies: imported first, they were half a sandbox's start) load right
 * after, in the background, or by their first call. A hand-written manifest without an
 * `app` module gets all of them up front, as before.
 */
export function modulesBeforeReady(manifest: Manifest): string[] {
  const ids = Object.keys(manifest.modules);
  return ids.includes(APP_MODULE) ? [APP_MODULE] : ids;
}

/** `path: message; …` for an error message (the full list travels as `data.errors`). */
export const describeIssues = (issues: ValidationIssue[]): string => issues.slice(0, 20).map((i) => `${i.path || '/'}: ${i.message}`).join('; ');
