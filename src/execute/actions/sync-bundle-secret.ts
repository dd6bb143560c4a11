/**
 * sync_bundle's Cloud Run destination: the Secret Manager secret that Cloud Run services mount as
 * their CA bundle. sync-bundle.action.ts decides when it applies (a `secret:<name>` target, or a
 * `trust-domain:<td>` target with `sources.cloudRun.bundleSecret` or `params.secret`).
 *
 * How a Cloud Run workload sees a new version (docs.cloud.google.com/run/docs/configuring/services/secrets):
 * a file mounted from a secret is fetched from Secret Manager when it is read, so an item at
 * `latest` follows new versions in running instances, while an item pinned to a version never
 * does. Envoy's file-based `trusted_ca` (and most TLS stacks) read the CA file once at start,
 * however, so the new bundle is only in force once the instances restart, and on Cloud Run a new
 * revision is that restart. Hence, after adding a version (`params.revisions`, default `all`):
 *  - `all`: every service in the configured locations that mounts the secret gets one template
 *    change, a new revision: items pinned to a number move to the new version, and the template
 *    annotation BUNDLE_VERSION_ANNOTATION records the version the revision was rolled for;
 *  - `pinned`: only services with numerically pinned items (moved to the new version);
 *  - `none`: the secret only (for workloads that re-read the file themselves).
 * Items pinned to an alias are never changed (the alias is the owner's choice) and are reported.
 */
import { errorMessage } from '../../knowledge/error-text.js';
import { ClassifiedError, retryClassOf, rethrowWithContext } from '../../knowledge/errors/classified-error.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import { secretNameOf } from '../../knowledge/subject-ref.js';
import type { CloudRunService } from '../../ports/cloudrun.port.js';
import type { SecretStorePort, SecretVersionRead } from '../../ports/secret-store.port.js';
import type { SpireBundle } from '../../ports/spire.port.js';
import {
  bundleMarkedSimulated,
  fleetRefusal,
  isMarkedSimulated,
  PermanentActionError,
  type ActionContext,
  type Precheck,
} from '../action.js';
import { bundlePem, holdsExactly, pemPrints, serverPrints, short } from './bundle-pem.js';
import { sleep } from '../../support/abortable-sleep.js';
import { needCloudRun, needSpireServer, numberParam, platformScopeRefusal, stringParam } from './kube-events.js';

/** Revision-template annotation: the secret version (…/secrets/<s>/versions/<n>) a revision was rolled for. */
export const BUNDLE_VERSION_ANNOTATION = 'spire-healer.io/bundle-version';

const SECRET_NAME = /^projects\/([a-z0-9-]+)\/secrets\/([A-Za-z0-9_-]{1,255})$/;
type RevisionsMode = 'all' | 'pinned' | 'none';

function needSecrets(ctx: ActionContext, job: RemediationRequest): SecretStorePort {
  if (ctx.secrets === undefined || ctx.secrets === null)
    throw new PermanentActionError(`${job.action} on ${job.target} needs Secret Manager (sources.cloudRun), which is not configured`);
  return ctx.secrets;
}

function revisionsMode(job: RemediationRequest): RevisionsMode {
  const v = stringParam(job, 'revisions') ?? 'all';
  if (v !== 'all' && v !== 'pinned' && v !== 'none')
    throw new PermanentActionError(`${job.action}: parameter revisions must be all, pinned or none, got ${JSON.stringify(v)}`);
  return v;
}

/** The secret a job writes: a `secret:<name>` target, else `params.secret`, else the configured one; null when none applies. */
export function bundleSecretOf(job: RemediationRequest, ctx: ActionContext): string | null {
  return secretNameOf(job.target) ?? stringParam(job, 'secret') ?? ctx.cloudRunBundle?.secret ?? null;
}

/** A service that mounts the secret, and how. */
interface Mount {
  readonly service: CloudRunService;
  /** The secret as this service's volumes write it. */
  readonly refs: readonly string[];
  /** Versions of items pinned to a number. */
  readonly pins: readonly string[];
  /** Items at an alias (neither a number nor latest). */
  readonly aliases: readonly string[];
  /** Some item follows `latest` (or the volume has no items, which means latest). */
  readonly followsLatest: boolean;
}

/** Everything a decision needs, read live. */
interface SecretState {
  readonly secret: string;
  readonly server: SpireBundle;
  readonly latest: SecretVersionRead | null;
  readonly copy: { readonly prints: string[]; readonly problems: string[] };
  readonly mounts: readonly Mount[];
  /** Services mounting the secret that the scope forbids touching. */
  readonly refused: readonly string[];
}

const versionName = (secret: string, id: string): string => `${secret}/versions/${id}`;
/** The create time of a version this very run added: newer than every revision. */
const JUST_ADDED = Number.POSITIVE_INFINITY;

/**
 * The mount of `secret` in `svc`, or null when it mounts none. `"<s>"` is the same-project form, `projects/<p>/secrets/<s>` the full
 * one.
 */
function mountOf(svc: CloudRunService, secret: string, project: string, secretId: string): Mount | null {
  const volumes = svc.secretVolumes.filter((v) => v.secret === secret || (v.secret === secretId && svc.project === project));
  if (volumes.length === 0) return null;
  const items = volumes.flatMap((v) => (v.items.length === 0 ? [{ path: secretId, version: 'latest' }] : v.items));
  return {
    service: svc,
    refs: [...new Set(volumes.map((v) => v.secret))],
    pins: items.map((i) => i.version).filter((v) => /^\d+$/.test(v)),
    aliases: items.map((i) => i.version).filter((v) => v !== 'latest' && v !== '' && !/^\d+$/.test(v)),
    followsLatest: items.some((i) => i.version === 'latest' || i.version === ''),
  };
}

/**
 * Whether a mounting service has not yet picked up version `id` of the secret: an item pinned to
 * another number, or (mode `all`) it follows `latest` but its revision is older than the version
 * (updateTime before the version's createTime) and was not rolled for it.
 */
function behind(
  m: Mount,
  st: { readonly secret: string; readonly id: string; readonly createdMs: number | null },
  mode: RevisionsMode,
): boolean {
  if (mode === 'none') return false;
  if (m.pins.some((p) => p !== st.id)) return true;
  if (mode !== 'all' || !m.followsLatest) return false;
  if (m.service.templateAnnotations[BUNDLE_VERSION_ANNOTATION] === versionName(st.secret, st.id)) return false;
  if (st.createdMs === JUST_ADDED) return true;
  return st.createdMs !== null && m.service.updateTimeMs !== null && st.createdMs > m.service.updateTimeMs;
}

/** Reads the server bundle, the secret's latest version and the services mounting it, after checking the secret and its scope. */
async function readState(
  job: RemediationRequest,
  ctx: ActionContext,
  secret: string,
  trustDomain: string | undefined,
  signal: AbortSignal,
): Promise<SecretState | { readonly skip: Precheck }> {
  const m = SECRET_NAME.exec(secret);
  if (m?.[1] === undefined || m[2] === undefined)
    throw new PermanentActionError(`${job.action}: ${JSON.stringify(secret)} is not a secret name projects/<project>/secrets/<secret>`);
  const [project, secretId] = [m[1], m[2]];
  const bundleConfig = ctx.cloudRunBundle;
  if (bundleConfig === undefined || bundleConfig === null)
    throw new PermanentActionError(`${job.action} on secret ${secret} needs sources.cloudRun, which is not configured`);
  const projects = [...new Set(bundleConfig.locations.map((l) => l.project))];
  if (!projects.includes(project))
    return {
      skip: {
        proceed: false,
        detail: `refused: secret ${secret} is in project ${project}, outside the configured Cloud Run projects ${projects.join(', ')}`,
      },
    };
  const where = `secret ${secret}`;
  const tdRefusal = platformScopeRefusal(where, trustDomain === undefined ? {} : { trustDomain }, ctx.scope);
  if (tdRefusal !== null) return { skip: { proceed: false, detail: tdRefusal } };
  const secrets = needSecrets(ctx, job);
  const info = await secrets.getSecret(secret, signal).catch(rethrowWithContext(`reading ${where}`));
  const fleet = fleetRefusal(where, isMarkedSimulated(info.labels), ctx.scope);
  if (fleet !== null) return { skip: { proceed: false, detail: fleet } };
  const server = await needSpireServer(ctx, job).getBundle(signal);
  if (trustDomain !== undefined && server.trustDomain !== trustDomain) {
    throw new PermanentActionError(
      `the SPIRE server serves trust domain ${server.trustDomain}, not ${trustDomain}: refusing to write its bundle for ${job.target}`,
    );
  }
  const serverRefusal = platformScopeRefusal(
    where,
    { trustDomain: server.trustDomain, simulated: bundleMarkedSimulated(server) },
    ctx.scope,
  );
  if (serverRefusal !== null) return { skip: { proceed: false, detail: serverRefusal } };
  if (server.x509Authorities.length === 0)
    throw new PermanentActionError(`the SPIRE server's bundle has no X.509 authorities: refusing to write an empty bundle to ${where}`);
  const latest = await secrets.readLatest(secret, signal).catch(rethrowWithContext(`reading the latest version of ${where}`));
  const copy = latest === null ? { prints: [], problems: ['no readable version'] } : pemPrints(Buffer.from(latest.data).toString('utf8'));
  const mounts: Mount[] = [];
  const refused: string[] = [];
  if (revisionsMode(job) !== 'none') {
    const run = needCloudRun(ctx, job);
    for (const loc of bundleConfig.locations) {
      for (const svc of await run.listServices(loc.project, loc.location, signal)) {
        const mount = mountOf(svc, secret, project, secretId);
        if (mount === null) continue;
        const no = fleetRefusal(svc.name, isMarkedSimulated(svc.annotations), ctx.scope);
        if (no === null) mounts.push(mount);
        else refused.push(svc.serviceId);
      }
    }
  }
  return { secret, server, latest, copy, mounts, refused };
}

const describeLatest = (st: SecretState): string =>
  st.latest === null
    ? 'has no readable version'
    : `version ${st.latest.version} holds ${st.copy.prints.length} certificate(s) (${short(st.copy.prints)})${st.copy.problems.length === 0 ? '' : `; ${st.copy.problems.join('; ')}`}`;

/**
 * precheck of the secret destination: proceed when the secret's latest version is not the server's bundle, or a mounting service has
 * not picked it up.
 */
export async function precheckSecret(
  job: RemediationRequest,
  ctx: ActionContext,
  secret: string,
  trustDomain: string | undefined,
  signal: AbortSignal,
): Promise<Precheck> {
  const st = await readState(job, ctx, secret, trustDomain, signal);
  if ('skip' in st) return st.skip;
  const mode = revisionsMode(job);
  const where = `secret ${secret}`;
  if (!holdsExactly(st.copy, st.server)) {
    return {
      proceed: true,
      detail: `${where} ${describeLatest(st)} but the server's bundle (sequence ${st.server.sequenceNumber}) has ${st.server.x509Authorities.length} (${short(serverPrints(st.server))}); ${st.mounts.length} Cloud Run service(s) mount it`,
    };
  }
  const id = st.latest?.version ?? '';
  const late = st.mounts.filter((m) => behind(m, { secret, id, createdMs: st.latest?.createTimeMs ?? null }, mode));
  const prefix = `${where} version ${id} already holds the server's ${st.server.x509Authorities.length} X.509 authorities (${short(serverPrints(st.server))})`;
  if (late.length === 0) return { proceed: false, detail: `${prefix}: nothing to sync` };
  return {
    proceed: true,
    detail: `${prefix}, but ${late.map((m) => m.service.serviceId).join(', ')} still run(s) a revision from before it`,
  };
}

/** Rolls one service onto version `id`: one template change (pins moved, annotation set), then waits for it to be ready. */
async function roll(
  job: RemediationRequest,
  ctx: ActionContext,
  m: Mount,
  secret: string,
  id: string,
  signal: AbortSignal,
): Promise<string> {
  const run = needCloudRun(ctx, job);
  const value = versionName(secret, id);
  const rollout = await run
    .updateSecretMount(
      m.service.name,
      { annotation: { key: BUNDLE_VERSION_ANNOTATION, value }, ...(m.pins.length === 0 ? {} : { pin: { secrets: m.refs, version: id } }) },
      signal,
    )
    .catch(rethrowWithContext(`new revision of ${m.service.name}`));
  let svc = rollout.service;
  const deadline = ctx.clock.now() + numberParam(job, 'waitReadyMs', 180_000, 0, 3_600_000);
  while (!svc.ready && ctx.clock.now() < deadline) {
    await sleep(500, signal);
    svc = await run.getService(m.service.name, signal);
  }
  if (!svc.ready)
    throw new ClassifiedError(`the new revision of ${m.service.name} is not ready yet: ${svc.notReady.join('; ')}`, 'retryable');
  const revision = svc.latestReadyRevision.slice(svc.latestReadyRevision.lastIndexOf('/') + 1);
  const pins = m.pins.length === 0 ? '' : `, pinned ${[...new Set(m.pins)].join('/')} → ${id}`;
  return `${m.service.serviceId} (revision ${revision}${pins})`;
}

/**
 * perform of the secret destination: adds a version holding the server's bundle unless the latest
 * already holds exactly its authorities, then rolls every mounting service that has not picked
 * that version up (in parallel; see the module comment). Idempotent: a second run adds nothing
 * and finds every service on the version.
 */
export async function performSecret(
  job: RemediationRequest,
  ctx: ActionContext,
  secret: string,
  trustDomain: string | undefined,
  signal: AbortSignal,
): Promise<string> {
  const st = await readState(job, ctx, secret, trustDomain, signal);
  if ('skip' in st) throw new PermanentActionError(st.skip.detail);
  const mode = revisionsMode(job);
  const where = `secret ${secret}`;
  const parts: string[] = [];
  let id = st.latest?.version ?? '';
  let createdMs = st.latest?.createTimeMs ?? null;
  if (holdsExactly(st.copy, st.server)) {
    parts.push(`${where} version ${id} already holds the server's ${st.server.x509Authorities.length} X.509 authorities; no version added`);
  } else {
    const added = await needSecrets(ctx, job)
      .addVersion(secret, Buffer.from(bundlePem(st.server)), signal)
      .catch(rethrowWithContext(`adding a version to ${where}`));
    id = added.slice(added.lastIndexOf('/') + 1);
    createdMs = JUST_ADDED;
    const before =
      st.latest === null
        ? 'it had no readable version'
        : `version ${st.latest.version} held ${st.copy.prints.length} certificate(s) (${short(st.copy.prints)})${st.copy.problems.length === 0 ? '' : `; ${st.copy.problems.join('; ')}`}`;
    parts.push(
      `added version ${id} to ${where} with the server's ${st.server.x509Authorities.length} X.509 authorities (${short(serverPrints(st.server))}, sequence ${st.server.sequenceNumber}); ${before}`,
    );
  }
  const late = st.mounts.filter((m) => behind(m, { secret, id, createdMs }, mode));
  const results = await Promise.allSettled(late.map((m) => roll(job, ctx, m, secret, id, signal)));
  const rolled = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (rolled.length > 0) parts.push(`rolled a new revision of ${rolled.join(', ')} so their instances read version ${id}`);
  else if (mode === 'none') parts.push('no revision rolled (revisions: none)');
  else
    parts.push(late.length === 0 ? `every Cloud Run service mounting it (${st.mounts.length}) is on version ${id}` : 'no revision rolled');
  const aliases = st.mounts.filter((m) => m.aliases.length > 0).map((m) => `${m.service.serviceId} (${m.aliases.join(', ')})`);
  if (aliases.length > 0) parts.push(`left items pinned to an alias as they are: ${aliases.join(', ')}`);
  if (st.refused.length > 0) parts.push(`did not touch ${st.refused.join(', ')} (out of scope: the simulated-fleet marker)`);
  if (failed.length > 0) {
    const why = failed.map(errorMessage).join('; ');
    const msg = `${parts.join('; ')}; but ${failed.length} of ${late.length} revision(s) failed: ${why}`;
    // Retried while one of them may still get through; permanent once none can.
    throw new ClassifiedError(msg, failed.some((e) => retryClassOf(e) === 'retryable') ? 'retryable' : 'permanent');
  }
  return parts.join('; ');
}
