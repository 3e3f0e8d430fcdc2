/**
 * Serialization rules, in one place. Every process (client, server, worker)
 * encodes and decodes with these settings so that a value means the same
 * thing on both ends:
 *   - plain msgpack maps (no msgpackr records), so other languages can read it;
 *   - Uint8Array / Buffer → bin, decoded as Buffer (a Uint8Array);
 *   - Date → msgpack timestamp extension (-1);
 *   - bigint → int64, or msgpackr's bigint extension beyond 64 bits; any int64
 *     on the wire decodes as bigint, so numbers and bigints never swap;
 *   - undefined → fixext1 type 0 (msgpackr's default) so optional arguments
 *     keep their position.
 */
import { Packr } from 'msgpackr';

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'bigint',
  useBigIntExtension: true,
  moreTypes: false,
});

export const encode = (value: unknown): Buffer => packr.pack(value);
export const decode = (bytes: Uint8Array): unknown => packr.unpack(bytes);
