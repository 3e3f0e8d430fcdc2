/**
 * A small seeded PRNG (sfc32) so every fuzz run is reproducible from its seed.
 * `fork(label)` derives an independent stream (one per connection, one for the
 * good client), so what one connection sends does not depend on how the
 * others were scheduled.
 */

/** FNV-1a over the label's UTF-16 units: a 32-bit seed from any string. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: string) {
    this.a = hash32(`${seed}/a`);
    this.b = hash32(`${seed}/b`);
    this.c = hash32(`${seed}/c`);
    this.d = 1;
    for (let i = 0; i < 15; i++) this.u32(); // let the state mix
  }

  /** An independent generator for `label`, derived from this one's seed (not its position). */
  fork(label: string): Rng {
    return new Rng(`${this.seed}:${label}`);
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1) */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** An integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)]!;
  }

  /** One of `choices` by weight: `[[weight, value], …]`. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let x = this.float() * total;
    for (const [w, v] of choices) {
      x -= w;
      if (x < 0) return v;
    }
    return choices[choices.length - 1]![1];
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      out[i] = v & 0xff;
      if (i + 1 < n) out[i + 1] = (v >>> 8) & 0xff;
      if (i + 2 < n) out[i + 2] = (v >>> 16) & 0xff;
      if (i + 3 < n) out[i + 3] = v >>> 24;
    }
    return out;
  }

  /** A size skewed towards small values: most under 16, some up to `max`. */
  size(max: number): number {
    const r = this.float();
    if (r < 0.6) return this.int(0, Math.min(8, max));
    if (r < 0.9) return this.int(0, Math.min(64, max));
    return this.int(0, max);
  }
}
