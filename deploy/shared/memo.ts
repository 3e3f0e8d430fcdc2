/**
 * What one deployment instance created, so `get(id)` can still say `deleted`
 * after `delete(id)` although the engine or cluster no longer knows the id.
 */
import type { SandboxInfo } from '../types.js';

export class SandboxMemo {
  private readonly known = new Map<string, SandboxInfo>();

  remember(info: SandboxInfo): void {
    this.known.set(info.id, info);
  }

  markDeleted(id: string): void {
    const info = this.known.get(id);
    if (info) info.state = 'deleted';
  }

  /** The remembered sandbox, reported as deleted (the caller found it gone), or undefined if this instance never made it. */
  gone(id: string): SandboxInfo | undefined {
    const info = this.known.get(id);
    return info ? { ...info, state: 'deleted', runtimeUrl: undefined } : undefined;
  }
}
