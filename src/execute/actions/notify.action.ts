import { asError } from '../../knowledge/error-text.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import { isoTime } from '../../knowledge/svid-rotation.js';
import type { Notification, NotifierPort } from '../../ports/notifier.port.js';
import { PermanentActionError, type ActionContext, type RemediationAction } from '../action.js';
import { durationParam, textParam } from './step-params.js';

/** The webhook URL of a job; a missing or non-http(s) one is permanent (the playbook must change). */
function webhookUrl(job: RemediationRequest): URL {
  const raw = textParam(job, 'url');
  if (raw === undefined) throw new PermanentActionError('notify: parameter url is required (the webhook to POST to)');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PermanentActionError('notify: parameter url is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new PermanentActionError(`notify: parameter url must be http(s), got ${url.protocol}`);
  return url;
}

/** Where it goes, without the path (webhook paths often embed a token). */
const where = (url: URL): string => `${url.protocol}//${url.host}`;

/** The notification for a job: the incident as knowledge has it, the plan's reason, playbook and step. */
async function notificationFor(job: RemediationRequest, ctx: ActionContext): Promise<Notification> {
  const incident = await ctx.store.getIncident(job.incidentId);
  const remediation = await ctx.store.getRemediation(job.incidentId);
  const playbook = textParam(job, 'playbook') ?? remediation?.playbook;
  const stepParam = job.params?.step;
  const step = typeof stepParam === 'number' ? stepParam : remediation?.step;
  return {
    id: job.id,
    incidentId: job.incidentId,
    type: incident?.type ?? 'unknown',
    subject: incident?.subject ?? job.target,
    status: incident?.status ?? 'unknown',
    ...(incident?.cause === undefined ? {} : { cause: incident.cause }),
    explanation: incident?.explanation ?? `incident ${job.incidentId} is no longer in knowledge`,
    reason: textParam(job, 'reason') ?? remediation?.reason ?? `step ${job.step + 1} of the plan asks to notify`,
    ...(playbook === undefined ? {} : { playbook }),
    ...(step === undefined ? {} : { step }),
    action: job.action,
    target: job.target,
    time: isoTime(ctx.clock.now()),
  };
}

/**
 * notify: POSTs the incident (id, type, subject, explanation, reason, playbook and step, time) as
 * JSON to `params.url` through `notifier`, once per delivery. Params: url (required), timeout of the
 * POST (default 10s), attempts (the job's deliveries, default 3: see knowledge/errors/job-deliveries.ts;
 * the queue delivers the job again after a retryable failure: no answer, 5xx, 429), reason,
 * playbook, step. A 4xx, a bad URL or bad params fail the job at once (permanent).
 * Notifying never touches the fleet, so the precheck only validates the parameters; the body's
 * `id` (the job id, also sent as Idempotency-Key) lets a receiver drop a re-delivered job.
 */
export function createNotifyAction(notifier: NotifierPort): RemediationAction {
  return {
    name: 'notify',
    precheck(job) {
      try {
        const url = webhookUrl(job);
        durationParam(job, 'timeout', 10_000, 100, 300_000);
        return Promise.resolve({ proceed: true, detail: `will POST incident ${job.incidentId} to the webhook at ${where(url)}` });
      } catch (e: unknown) {
        return Promise.reject(asError(e));
      }
    },
    async perform(job, ctx, signal) {
      const url = webhookUrl(job);
      const timeoutMs = durationParam(job, 'timeout', 10_000, 100, 300_000);
      const notification = await notificationFor(job, ctx);
      // A rejection keeps the notifier's retry class: the queue delivers the job again, or not.
      const r = await notifier.notify(url.href, notification, { timeoutMs, signal });
      return `notified the webhook at ${where(url)} about incident ${job.incidentId} (HTTP ${r.status})`;
    },
  };
}
