/**
 * One bound on the bytes of messages received but not complete yet, summed
 * over every connection (ws holds each incomplete message whole before it
 * hands it over). Eight clients each half-way through a 128 MiB message would
 * otherwise hold a gigabyte between them. Past the budget, connections in the
 * middle of a message are paused, except the one that started first: it can
 * always finish, and as messages complete the others resume.
 *
 * ws does not expose how much of a message it holds; this reads its
 * receiver's counters (`_bufferedBytes`, `_totalPayloadLength`, stable across
 * ws 8.x). If they are missing, nothing is bounded here and the per-message
 * limit still applies (a test checks the pinned ws has them).
 */
import type { WebSocket } from 'ws';

interface ReceiverState {
  _bufferedBytes?: number;
  _totalPayloadLength?: number;
  _fragmented?: number;
}

/** Bytes `ws` holds of messages not complete yet; undefined if its internals are not as expected. */
export function partialBytes(ws: WebSocket): number | undefined {
  const r = (ws as unknown as { _receiver?: ReceiverState })._receiver;
  if (!r || typeof r._bufferedBytes !== 'number' || typeof r._totalPayloadLength !== 'number') return undefined;
  return r._bufferedBytes + (r._fragmented ? r._totalPayloadLength : 0);
}

export interface BudgetMember {
  ws: WebSocket;
  pause(): void;
  resume(): void;
}

export class ReceiveBudget {
  private total = 0;
  private readonly held = new Map<BudgetMember, number>();
  private readonly paused = new Set<BudgetMember>();

  constructor(private readonly limit: number) {}

  get bytes(): number {
    return this.total;
  }

  /** Call after `ws` processed a chunk: updates its share and pauses or resumes as the budget says. */
  update(m: BudgetMember): void {
    const now = partialBytes(m.ws) ?? 0;
    const before = this.held.get(m) ?? 0;
    if (now === before) return;
    this.total += now - before;
    if (now > 0) this.held.set(m, now);
    else this.held.delete(m);
    this.rebalance();
  }

  remove(m: BudgetMember): void {
    this.total -= this.held.get(m) ?? 0;
    this.held.delete(m);
    this.paused.delete(m);
    this.rebalance();
  }

  private rebalance(): void {
    if (this.total > this.limit) {
      // Map order is insertion order: the first holder keeps going.
      let first = true;
      for (const m of this.held.keys()) {
        if (!first && !this.paused.has(m)) {
          this.paused.add(m);
          m.pause();
        }
        first = false;
      }
      return;
    }
    for (const m of this.paused) m.resume();
    this.paused.clear();
  }
}
