/**
 * Typed reading of playbook step parameters (`job.params`) and of SPIRE port failure codes, for the
 * actions that take durations, flags and lists. A parameter of the wrong type is a
 * PermanentActionError: a retry would read the same playbook.
 */
import { parseDuration } from '../../knowledge/duration.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import { PermanentActionError } from '../action.js';

const bad = (job: RemediationRequest, key: string, want: string, v: unknown): PermanentActionError =>
  new PermanentActionError(`${job.action}: parameter ${key} must be ${want}, got ${JSON.stringify(v)}`);

/** A duration parameter in ms: a number (ms) or a string like "10s", "1m30s"; `fallback` when absent; clamped to [min, max]. */
export function durationParam(job: RemediationRequest, key: string, fallback: number, min: number, max: number): number {
  const v = job.params?.[key];
  if (v === undefined) return fallback;
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? parseDuration(v) : null;
  if (ms === null || !Number.isFinite(ms) || ms < 0) throw bad(job, key, 'a duration ("10s", "500ms") or a number of ms', v);
  return Math.min(max, Math.max(min, Math.floor(ms)));
}

/** A boolean parameter; `fallback` when absent. */
export function boolParam(job: RemediationRequest, key: string, fallback: boolean): boolean {
  const v = job.params?.[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw bad(job, key, 'true or false', v);
  return v;
}

/** A list-of-strings parameter (a lone string counts as a list of one); undefined when absent. */
export function stringListParam(job: RemediationRequest, key: string): readonly string[] | undefined {
  const v = job.params?.[key];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(job, key, 'a list of strings', v);
  return v;
}

/** A non-empty string parameter, or undefined when absent. */
export function textParam(job: RemediationRequest, key: string): string | undefined {
  const v = job.params?.[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw bad(job, key, 'a non-empty string', v);
  return v;
}

/** The SpireFailure code of a SPIRE port rejection ("NOT_FOUND"…), or null (to tell a missing record apart, not to decide a retry). */
export function spireCode(e: unknown): string | null {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : null;
}
