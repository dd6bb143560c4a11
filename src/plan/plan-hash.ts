import { createHash } from 'node:crypto';
import { canonicalJson } from '../knowledge/audit-hash.js';
import type { PlaybookStep } from './playbooks/playbook.js';

/** What an approval covers: the exact step about to run, in the context of the whole ladder. */
export interface PlanHashInput {
  readonly incidentId: string;
  readonly playbook: string;
  readonly steps: readonly PlaybookStep[];
  readonly step: number;
  readonly target: string;
}

/**
 * Deterministic hash (16 hex chars of sha256 over canonical JSON) of a plan step. Any change in
 * the playbook's steps, the step index or the target gives another hash, so an approval given
 * for one plan never lets a different one run.
 */
export function planHash(p: PlanHashInput): string {
  return createHash('sha256').update(canonicalJson(p)).digest('hex').slice(0, 16);
}
