/**
 * The output of a background command (bash.spawn): stdout and stderr in the
 * order they arrived, addressed by byte offset since the command started,
 * of which only the newest `capacity` bytes are kept. Older bytes are
 * dropped and counted, so a reader always knows what it missed.
 *
 * Text only: the keeper decodes each pipe as UTF-8 before it gets here, and
 * offsets count the bytes of that text. A cut (dropping, or a read's byte
 * limit) never splits a character.
 *
 * Not an entry module: nothing here is callable remotely.
 */

export type StreamName = 'stdout' | 'stderr';
export type Chunk = { stdout: string } | { stderr: string };

export interface RingRead {
  chunks: Chunk[];
  /** The offset after the last byte returned: where the next read starts. */
  next: number;
  /** Bytes between `since` and the first byte returned that are no longer kept. */
  dropped: number;
}

interface Piece {
  stream: StreamName;
  bytes: Buffer;
  /** Offset of bytes[0]. */
  start: number;
}

/** Adjacent pieces of one stream are merged while they are smaller than this (few, larger pieces). */
const MERGE_BELOW = 4096;
/** Alternating tiny writes to stdout and stderr would make a piece per byte: beyond this many, the oldest go. */
const MAX_PIECES = 16384;

/** Is b a UTF-8 continuation byte (10xxxxxx)? */
const continuation = (b: number | undefined) => b !== undefined && (b & 0xc0) === 0x80;

/** The first character boundary at or after `at`. */
function boundaryAfter(bytes: Buffer, at: number): number {
  while (at < bytes.length && continuation(bytes[at])) at++;
  return at;
}

/** The last character boundary at or before `at`. */
function boundaryBefore(bytes: Buffer, at: number): number {
  while (at > 0 && continuation(bytes[at])) at--;
  return at;
}

export class OutputRing {
  private pieces: Piece[] = [];
  /** pieces[0..head) are dropped (compacted now and then). */
  private head = 0;
  /** Offset of the oldest byte kept (= bytes dropped so far). */
  private begin = 0;
  /** Offset after the newest byte (= bytes written so far). */
  private end = 0;

  constructor(readonly capacity: number) {}

  /** Bytes written so far. */
  get total(): number {
    return this.end;
  }

  /** Bytes dropped so far (the oldest ones). */
  get dropped(): number {
    return this.begin;
  }

  push(stream: StreamName, text: string): void {
    if (!text) return;
    const bytes = Buffer.from(text, 'utf8');
    const last = this.pieces.length > this.head ? this.pieces[this.pieces.length - 1]! : undefined;
    if (last && last.stream === stream && last.bytes.length + bytes.length < MERGE_BELOW) {
      last.bytes = Buffer.concat([last.bytes, bytes]);
    } else {
      this.pieces.push({ stream, bytes, start: this.end });
    }
    this.end += bytes.length;
    this.trim();
  }

  /**
   * At most `maxBytes` bytes from offset `since` on (whole characters: one
   * character more than maxBytes if the first one alone is larger). Adjacent
   * pieces of one stream come as one chunk.
   */
  read(since: number, maxBytes: number): RingRead {
    let at = Math.max(since, this.begin);
    let dropped = at - since;
    const chunks: Chunk[] = [];
    let budget = maxBytes;
    for (let i = this.find(at); i < this.pieces.length && budget > 0; i++) {
      const piece = this.pieces[i]!;
      let off = at - piece.start;
      // A caller's own `since` may point into a character: skip to the next one.
      const skip = boundaryAfter(piece.bytes, off) - off;
      off += skip;
      at += skip;
      dropped += skip;
      if (off >= piece.bytes.length) continue;
      let take = Math.min(piece.bytes.length - off, budget);
      if (off + take < piece.bytes.length) take = boundaryBefore(piece.bytes, off + take) - off;
      if (take <= 0) {
        if (chunks.length > 0) break;
        take = boundaryAfter(piece.bytes, off + 1) - off;
      }
      const text = piece.bytes.toString('utf8', off, off + take);
      const prev = chunks[chunks.length - 1];
      if (prev && piece.stream in prev) (prev as Record<StreamName, string>)[piece.stream] += text;
      else chunks.push(piece.stream === 'stdout' ? { stdout: text } : { stderr: text });
      at += take;
      budget -= take;
    }
    return { chunks, next: at, dropped };
  }

  /** Index of the piece holding offset `at` (or the end). */
  private find(at: number): number {
    let lo = this.head;
    let hi = this.pieces.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = this.pieces[mid]!;
      if (p.start + p.bytes.length <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private trim(): void {
    while (this.end - this.begin > this.capacity || this.pieces.length - this.head > MAX_PIECES) {
      const first = this.pieces[this.head]!;
      const excess = this.end - this.begin - this.capacity;
      if (excess > 0 && excess < first.bytes.length && this.pieces.length - this.head <= MAX_PIECES) {
        const cut = boundaryAfter(first.bytes, excess);
        first.bytes = first.bytes.subarray(cut);
        first.start += cut;
        this.begin += cut;
        if (first.bytes.length > 0) break;
      } else {
        this.begin = first.start + first.bytes.length;
      }
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.pieces.length) {
      this.pieces = this.pieces.slice(this.head);
      this.head = 0;
    }
  }
}
