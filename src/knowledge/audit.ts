/**
 * The audit log: append-only, hash-chained. Each entry stores the hash of the previous entry,
 * so editing or deleting any entry breaks the chain at that point and `verify()` names it.
 */

export type AuditEventType =
  | 'observation.changed'
  | 'observation.failed'
  | 'incident.opened'
  | 'incident.resolved'
  | 'incident.recovering'
  | 'incident.relapsed'
  | 'plan.decided'
  | 'plan.held'
  | 'plan.step_skipped'
  | 'plan.awaiting_approval'
  | 'plan.approved'
  | 'plan.escalated'
  | 'playbooks.reloaded'
  | 'playbooks.rejected'
  | 'job.enqueued'
  | 'job.started'
  | 'job.retrying'
  | 'job.succeeded'
  | 'job.failed'
  | 'job.skipped'
  | 'verification.passed'
  | 'verification.failed'
  | 'control.paused'
  | 'control.resumed'
  | 'config.error';

/** What a stage asks to append. */
export interface AuditEventInput {
  readonly type: AuditEventType;
  readonly at: number;
  /** Words a person reads in `spire-healer audit`. */
  readonly message: string;
  readonly incidentId?: string;
  readonly subject?: string;
  /** Structured details (JSON-safe). */
  readonly data?: Readonly<Record<string, unknown>>;
  /**
   * Idempotency key. Appending the same key twice stores one entry (a resent command after a
   * reconnect, or a restored actor repeating a step). Defaults to a random id.
   */
  readonly dedupKey?: string;
}

export interface AuditEntry extends AuditEventInput {
  /** 1-based position in the chain. */
  readonly seq: number;
  /** Redis stream id (or another backend's id). */
  readonly id: string;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditQuery {
  readonly sinceMs?: number;
  readonly incidentId?: string;
  readonly limit?: number;
}

export type AuditVerification =
  | { readonly ok: true; readonly entries: number }
  | {
      readonly ok: false;
      readonly entries: number;
      readonly firstBad: { readonly seq: number; readonly id: string; readonly problem: string };
    };

export interface AuditLog {
  append(event: AuditEventInput): Promise<AuditEntry>;
  list(query?: AuditQuery): Promise<AuditEntry[]>;
  verify(): Promise<AuditVerification>;
}

/** The hash before the first entry. */
export const GENESIS_HASH = '0'.repeat(64);
