/**
 * What docs/protocol.md defines (its message-type tables and error-code table,
 * read from the document itself so a new row shows up here) that no transcript
 * sends or expects.
 */
import { readFileSync } from 'node:fs';
import { decodeWire } from './msgpack.js';
import type { Slot, Transcript } from './transcript.js';

/** Rows of the markdown table that follows `heading`: their first and second cells. */
function tableRows(doc: string, heading: string): [string, string][] {
  const start = doc.indexOf(heading);
  if (start < 0) throw new Error(`docs/protocol.md has no "${heading}"`);
  const rows: [string, string][] = [];
  let inTable = false;
  for (const line of doc.slice(start + heading.length).split('\n')) {
    if (line.startsWith('|')) {
      inTable = true;
      const cells = line.split('|').map((c) => c.trim());
      if (!/^-+$/.test(cells[1]!)) rows.push([cells[1]!, cells[2]!]);
    } else if (inTable) break;
  }
  return rows.slice(1);
}

/** Every object and array inside a pattern, depth first. */
function* walk(p: unknown): Generator<unknown> {
  yield p;
  if (Array.isArray(p)) for (const q of p) yield* walk(q);
  else if (typeof p === 'object' && p !== null) for (const q of Object.values(p)) yield* walk(q);
}

/** The frame patterns of a slot, looking through $oneOf at the top. */
function framePatterns(slot: Slot): unknown[] {
  const top = 'one' in slot ? [slot.one] : slot.group;
  return top.flatMap((p) => (typeof p === 'object' && p !== null && '$oneOf' in p ? ((p as { $oneOf: unknown[] }).$oneOf) : [p]));
}

export function coverageGaps(protocolDoc: string, transcripts: Transcript[]): string[] {
  const doc = readFileSync(protocolDoc, 'utf8');
  const clientTypes = tableRows(doc, '### Client → server').map(([n, name]) => [Number(n), name] as const);
  const serverTypes = tableRows(doc, '### Server → client').map(([n, name]) => [Number(n), name] as const);
  const codes = tableRows(doc, '## Errors').map(([c]) => c.replaceAll('`', ''));
  if (clientTypes.length < 5 || serverTypes.length < 7 || codes.length < 11) throw new Error('could not read the tables of docs/protocol.md');

  const sent = new Set<number>();
  const expected = new Set<string>();
  const codesSeen = new Set<string>();
  for (const t of transcripts) {
    for (const s of t.steps) {
      if (s.kind === 'send' && 'binary' in s.payload) {
        try {
          const w = decodeWire(s.payload.binary);
          if (w.t === 'array' && w.v[0]?.t === 'int') sent.add(Number(w.v[0].v));
        } catch {
          // a deliberately malformed frame
        }
      }
      const patterns: unknown[] = [];
      if (s.kind === 'expect') {
        for (const slot of s.slots) {
          for (const p of framePatterns(slot)) {
            patterns.push(p);
            if (Array.isArray(p) && typeof p[0] === 'number') {
              expected.add(String(p[0]));
              if (p[1] === 0) expected.add(`${p[0]} with id 0`);
            }
          }
        }
      }
      if (s.kind === 'connect' && s.refused) patterns.push(s.refused.json);
      if (s.kind === 'http') patterns.push(s.expect.json);
      for (const p of patterns) {
        for (const q of walk(p)) {
          if (typeof q === 'object' && q !== null && !Array.isArray(q) && typeof (q as { code?: unknown }).code === 'string') codesSeen.add((q as { code: string }).code);
        }
      }
    }
  }
  const gaps: string[] = [];
  for (const [n, name] of clientTypes) if (!sent.has(n)) gaps.push(`no transcript sends ${name} (${n})`);
  for (const [n, name] of serverTypes) if (!expected.has(String(n))) gaps.push(`no transcript expects ${name} (${n})`);
  for (const special of ['17 with id 0', '21 with id 0']) if (!expected.has(special)) gaps.push(`no transcript expects ${special}`);
  for (const c of codes) if (!codesSeen.has(c)) gaps.push(`no transcript expects the error code ${c}`);
  return gaps;
}
