import { createActor, toPromise } from 'xstate';
import { asError } from '../knowledge/error-text.js';
import { untilAborted } from '../support/until-aborted.js';
import type { ActionRun, RemediationRequest } from '../knowledge/model/action-run.js';
import { FLEET_SUBJECT } from '../knowledge/model/incident.js';
import type { ActionContext, Precheck, RemediationAction } from './action.js';
import { remediationJobMachine, type JobEffects, type JobOutcome } from './remediation-job.machine.js';

/** The actions execute knows, by name. */
export type ActionRegistry = ReadonlyMap<RemediationRequest['action'], RemediationAction>;

const terminal = new Set<ActionRun['state']>(['succeeded', 'failed', 'skipped']);

/** Which delivery of the job this is (BullMQ attempts), so a transient failure is retried only while attempts are left. */
export interface Delivery {
  readonly attempt: number;
  readonly maxAttempts: number;
}

/**
 * Runs one action call and rejects when `signal` aborts, even if the call ignores the signal. The
 * call is not started when the signal is aborted already, and its late outcome is always handled:
 * an action that rejects after the job gave up on it must not become an unhandled rejection (which
 * ends a Node process).
 */
function untilJobAborted<T>(call: () => Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  return untilAborted(call, signal, () => new Error(`${what}: ${abortReason(signal)}`)).catch((e: unknown) => {
    throw asError(e);
  });
}

function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof DOMException && r.name === 'TimeoutError') return 'timed out';
  if (r instanceof Error) return r.message;
  // A queue that aborts with a text reason (e.g. shutdown past its grace period) says why.
  return typeof r === 'string' && r !== '' ? r : 'aborted';
}

/**
 * Processes one remediation job end to end and records its terminal state in knowledge and the
 * audit log. A retryable failure with deliveries left goes back to queued (`retry`); a permanent
 * one is recorded as failed, audited, and returned with `permanent` so the queue ends the job
 * without another delivery (the run and the audit entry are written before it returns).
 * At-least-once delivery is expected (BullMQ stalls, retries): a job whose run is already terminal
 * returns the recorded outcome without acting again, and every action re-checks the live target
 * before it acts, so a second delivery cannot cause a second effect on a target that has healed.
 */
export async function processRemediationJob(
  job: RemediationRequest,
  actions: ActionRegistry,
  ctx: ActionContext,
  signal: AbortSignal,
  delivery: Delivery = { attempt: 1, maxAttempts: 1 },
): Promise<JobOutcome> {
  const existing = await ctx.store.getActionRun(job.id);
  if (existing !== null && terminal.has(existing.state)) {
    return {
      result: existing.state as JobOutcome['result'],
      detail: existing.detail,
      performed: existing.performed,
      ...(existing.held === true ? { held: true } : {}),
    };
  }
  const startedAt = ctx.clock.now();
  const base: ActionRun = existing ?? {
    id: job.id,
    incidentId: job.incidentId,
    step: job.step,
    attempt: job.attempt,
    action: job.action,
    target: job.target,
    state: 'queued',
    enqueuedAt: job.decidedAt,
    startedAt: null,
    finishedAt: null,
    detail: '',
    performed: false,
  };
  // Independent writes: the run record and the audit entry go to Redis together.
  await Promise.all([
    ctx.store.putActionRun({ ...base, state: 'running', startedAt }),
    ctx.audit.append({
      type: 'job.started',
      at: startedAt,
      incidentId: job.incidentId,
      subject: job.target,
      message: `started ${job.action} on ${job.target} (job ${job.id})`,
      data: { jobId: job.id },
      dedupKey: `job.started--${job.id}${delivery.attempt > 1 ? `--d${delivery.attempt}` : ''}`,
    }),
  ]);

  // The per-action timeout, and the plan's deadline for the step, abort the action's I/O and end
  // the job even if the action ignores the signal.
  const limitMs = Math.min(job.timeoutMs ?? Infinity, job.deadlineAt === undefined ? Infinity : job.deadlineAt - startedAt);
  const bounded = limitMs === Infinity ? signal : AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, limitMs))]);
  const outcome = await runJobMachine(job, actions, ctx, bounded);
  const finishedAt = ctx.clock.now();
  if (outcome.result === 'failed' && outcome.transient === true && delivery.attempt < delivery.maxAttempts) {
    const detail = `delivery ${delivery.attempt}/${delivery.maxAttempts} failed, will retry: ${outcome.detail}`;
    await ctx.store.putActionRun({ ...base, state: 'queued', startedAt, finishedAt: null, detail });
    await ctx.audit.append({
      type: 'job.retrying',
      at: finishedAt,
      incidentId: job.incidentId,
      subject: job.target,
      message: `${job.action} on ${job.target}: ${detail}`,
      data: { jobId: job.id, delivery: delivery.attempt, maxAttempts: delivery.maxAttempts },
      dedupKey: `job.retrying--${job.id}--${delivery.attempt}`,
    });
    return { ...outcome, retry: true, detail };
  }
  await Promise.all([
    ctx.store.putActionRun({
      ...base,
      state: outcome.result,
      startedAt,
      finishedAt,
      detail: outcome.detail,
      performed: outcome.performed,
      ...(outcome.held === true ? { held: true } : {}),
    }),
    ctx.audit.append({
      type: outcome.result === 'succeeded' ? 'job.succeeded' : outcome.result === 'skipped' ? 'job.skipped' : 'job.failed',
      at: finishedAt,
      incidentId: job.incidentId,
      subject: job.target,
      message: `${job.action} on ${job.target} ${outcome.result}: ${outcome.detail}`,
      data: {
        jobId: job.id,
        performed: outcome.performed,
        durationMs: finishedAt - startedAt,
        ...(outcome.permanent === true ? { permanent: true } : {}),
      },
      dedupKey: `job.finished--${job.id}`,
    }),
  ]);
  return outcome;
}

async function runJobMachine(
  job: RemediationRequest,
  actions: ActionRegistry,
  ctx: ActionContext,
  signal: AbortSignal,
): Promise<JobOutcome> {
  const action = actions.get(job.action);
  if (action === undefined)
    return { result: 'failed', detail: `unknown action ${job.action} (permanent, not retried)`, performed: false, permanent: true };
  const effects: JobEffects = {
    check: async (): Promise<Precheck> => {
      const gate = await gateChecks(job, ctx);
      if (gate !== null) return gate;
      return untilJobAborted(() => action.precheck(job, ctx, signal), signal, `${job.action} precondition check`);
    },
    perform: () => untilJobAborted(() => action.perform(job, ctx, signal), signal, job.action),
  };
  const actor = createActor(remediationJobMachine, { input: { job, effects } });
  actor.subscribe({ error: () => undefined });
  actor.start();
  return toPromise(actor);
}

/**
 * Checks that do not depend on the action: the plan's deadline for the step not passed (after it
 * the plan has moved on, and this delivery, a retry or a recovered stalled job, must not act
 * behind its back), kill switch, no fleet storm, incident still open. Reads go out together.
 */
async function gateChecks(job: RemediationRequest, ctx: ActionContext): Promise<Precheck | null> {
  const now = ctx.clock.now();
  if (job.deadlineAt !== undefined && now >= job.deadlineAt) {
    return {
      proceed: false,
      detail: `the plan's deadline for this step passed at ${new Date(job.deadlineAt).toISOString()}; the plan has moved on without this job`,
    };
  }
  const [control, storm, incident] = await Promise.all([
    ctx.store.getControl(),
    ctx.store.findOpenIncident('fleet_storm', FLEET_SUBJECT),
    ctx.store.getIncident(job.incidentId),
  ]);
  if (control.paused) return { proceed: false, held: true, detail: `remediation is paused: ${control.reason}` };
  if (storm !== null && job.action !== 'notify')
    return { proceed: false, held: true, detail: `fleet in storm (${storm.id}): held until it ends` };
  const overBudget = await budgetUsedUp(job, ctx, now);
  if (overBudget !== null) return { proceed: false, held: true, detail: overBudget };
  if (incident === null) return { proceed: false, detail: `incident ${job.incidentId} not found` };
  if (incident.status !== 'open') return { proceed: false, detail: `incident ${job.incidentId} is already resolved` };
  return null;
}

/**
 * Why the job's budget is used up by actions decided before it (e.g. by another replica at the
 * same moment), or null. Its own ledger entry was recorded when it was decided; a job without
 * one (recorded by an older version) is not held back.
 */
async function budgetUsedUp(job: RemediationRequest, ctx: ActionContext, now: number): Promise<string | null> {
  const b = job.budget;
  if (b === undefined) return null;
  const scopes = [
    { limit: b.perPlaybook, scope: { playbook: b.playbook }, words: `playbook ${b.playbook}` },
    { limit: b.perSubject, scope: { subject: b.subject }, words: `subject ${b.subject}` },
  ];
  for (const { limit, scope, words } of scopes) {
    if (limit === null) continue;
    const before = await ctx.store.ledgerEntriesBefore(scope, job.id, now - limit.windowMs);
    if (before !== null && before >= limit.count) {
      return `over budget: ${before} actions of ${words} were decided before this one in the last ${Math.round(limit.windowMs / 1000)}s (max ${limit.count}); held back`;
    }
  }
  return null;
}
