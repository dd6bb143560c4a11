import type { AuditEntry, AuditEventInput } from '../../knowledge/audit.js';

/**
 * How one audit entry is laid out in the Redis stream, and how it is read back. Reading never
 * throws: a malformed entry (fields missing, event not JSON) is reported as such, so `verify()`
 * can name it instead of crashing.
 */

/** One raw stream entry as XRANGE returns it: [id, [field, value, field, value, ...]]. */
export type RawStreamEntry = [id: string, fields: string[]];

/** A stream entry read back: the entry, or why it cannot be read. */
export type DecodedEntry =
  /** `event` is the stored event object exactly as parsed: what verify() hashes. */
  | { readonly ok: true; readonly entry: AuditEntry; readonly event: AuditEventInput }
  | { readonly ok: false; readonly id: string; readonly seq: number | null; readonly problem: string };

/** Field/value pairs of a new stream entry (the event is canonical JSON without its dedupKey). */
export function streamFields(seq: number, prevHash: string, hash: string, eventJson: string, dedupKey: string): string[] {
  return ['seq', String(seq), 'prevHash', prevHash, 'hash', hash, 'event', eventJson, 'dedupKey', dedupKey];
}

/** Decodes one stream entry into an AuditEntry; malformed entries come back with a problem sentence. */
export function decodeEntry([id, flat]: RawStreamEntry): DecodedEntry {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i] ?? '', flat[i + 1] ?? '');
  const seqText = f.get('seq');
  const seq = seqText !== undefined && /^[1-9]\d*$/.test(seqText) ? Number(seqText) : null;
  const bad = (problem: string): DecodedEntry => ({ ok: false, id, seq, problem: `malformed entry: ${problem}` });
  if (seq === null) return bad(`seq is ${seqText === undefined ? 'missing' : `not a positive integer ("${seqText}")`}`);
  const prevHash = f.get('prevHash');
  const hash = f.get('hash');
  const eventJson = f.get('event');
  if (prevHash === undefined || hash === undefined || eventJson === undefined) return bad('a field (prevHash, hash or event) is missing');
  let event: unknown;
  try {
    event = JSON.parse(eventJson);
  } catch {
    return bad('event is not valid JSON');
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return bad('event is not a JSON object');
  const dedupKey = f.get('dedupKey');
  const stored = event as AuditEventInput;
  const entry: AuditEntry = {
    ...stored,
    ...(dedupKey === undefined || dedupKey === '' ? {} : { dedupKey }),
    seq,
    id,
    prevHash,
    hash,
  };
  return { ok: true, entry, event: stored };
}
