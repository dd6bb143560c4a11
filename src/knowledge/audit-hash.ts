import { createHash } from 'node:crypto';
import type { AuditEventInput } from './audit.js';

/**
 * Canonical JSON: object keys sorted, so the hash does not depend on insertion order or on
 * how a backend round-trips the record.
 */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** The fields that are hashed: everything the reader relies on, plus the chain position and link. */
export interface HashedAuditFields {
  readonly seq: number;
  readonly prevHash: string;
  readonly event: AuditEventInput;
}

/** sha256 over the canonical form of (seq, prevHash, event without dedupKey). */
export function hashAuditEntry(fields: HashedAuditFields): string {
  const { dedupKey: _dedup, ...event } = fields.event;
  return createHash('sha256')
    .update(canonicalJson({ seq: fields.seq, prevHash: fields.prevHash, event }))
    .digest('hex');
}
