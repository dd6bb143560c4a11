import { createActor, fromPromise, toPromise } from 'xstate';
import type { ActionRun, RemediationRequest } from '../knowledge/model/action-run.js';
import type { ActionContext, Precheck, RemediationAction } from './action.js';
import { remediationJobMachine, type JobOutcome } from './remediation-job.machine.js';

/** The actions execute knows, by name. */
export type ActionRegistry = ReadonlyMap<RemediationRequest['action'], RemediationAction>;

const terminal = new Set<ActionRun['state']>(['succeeded', 'failed', 'skipped']);

/**
 * Processes one remediation job end to end and records its terminal state in knowledge and the
 * audit log. At-least-once delivery is expected (BullMQ stalls, retries): a job whose run is
 * already terminal returns the recorded outcome without acting again, and every action re-checks
 * the live target before it acts, so a second delivery cannot cause a second effect on a
 * target that has healed.
 */
export async function processRemediationJob(job: RemediationRequest, actions: ActionRegistry, ctx: ActionContext, signal: AbortSignal): Promise<JobOutcome> {
  const existing = await ctx.store.getActionRun(job.id);
  if (existing !== null && terminal.has(existing.state)) {
    return { result: existing.state as JobOutcome['result'], detail: existing.detail, performed: existing.performed };
  }
  const startedAt = ctx.clock.now();
  const base: ActionRun = existing ?? {
    id: job.id, incidentId: job.incidentId, step: job.step, attempt: job.attempt, action: job.action, target: job.target,
    state: 'queued', enqueuedAt: job.decidedAt, startedAt: null, finishedAt: null, detail: '', performed: false,
  };
  await ctx.store.putActionRun({ ...base, state: 'running', startedAt });
  await ctx.audit.append({
    type: 'job.started', at: startedAt, incidentId: job.incidentId, subject: job.target,
    message: `started ${job.action} on ${job.target} (job ${job.id})`, data: { jobId: job.id }, dedupKey: `job.started--${job.id}`,
  });

  const outcome = await runJobMachine(job, actions, ctx, signal);
  const finishedAt = ctx.clock.now();
  await ctx.store.putActionRun({ ...base, state: outcome.result, startedAt, finishedAt, detail: outcome.detail, performed: outcome.performed });
  await ctx.audit.append({
    type: outcome.result === 'succeeded' ? 'job.succeeded' : outcome.result === 'skipped' ? 'job.skipped' : 'job.failed',
    at: finishedAt, incidentId: job.incidentId, subject: job.target,
    message: `${job.action} on ${job.target} ${outcome.result}: ${outcome.detail}`,
    data: { jobId: job.id, performed: outcome.performed, durationMs: finishedAt - startedAt },
    dedupKey: `job.finished--${job.id}`,
  });
  return outcome;
}

async function runJobMachine(job: RemediationRequest, actions: ActionRegistry, ctx: ActionContext, signal: AbortSignal): Promise<JobOutcome> {
  const action = actions.get(job.action);
  if (action === undefined) return { result: 'failed', detail: `unknown action ${job.action}`, performed: false };
  const machine = remediationJobMachine.provide({
    actors: {
      checkPreconditions: fromPromise<Precheck, RemediationRequest>(async () => {
        const gate = await gateChecks(job, ctx);
        if (gate !== null) return gate;
        const target = await ctx.store.getWorkload(job.target);
        if (target === null) return { proceed: false, detail: `target ${job.target} no longer exists in the inventory` };
        return action.precheck(job, target, ctx, signal);
      }),
      performEffect: fromPromise<string, RemediationRequest>(async () => {
        const target = await ctx.store.getWorkload(job.target);
        if (target === null) throw new Error(`target ${job.target} disappeared before acting`);
        return action.perform(job, target, ctx, signal);
      }),
    },
  });
  const actor = createActor(machine, { input: { job } });
  actor.subscribe({ error: () => undefined });
  actor.start();
  return toPromise(actor);
}

/** Checks that do not depend on the action: kill switch, incident still open. */
async function gateChecks(job: RemediationRequest, ctx: ActionContext): Promise<Precheck | null> {
  const control = await ctx.store.getControl();
  if (control.paused) return { proceed: false, detail: `remediation is paused: ${control.reason}` };
  const incident = await ctx.store.getIncident(job.incidentId);
  if (incident === null) return { proceed: false, detail: `incident ${job.incidentId} not found` };
  if (incident.status !== 'open') return { proceed: false, detail: `incident ${job.incidentId} is already resolved` };
  return null;
}
