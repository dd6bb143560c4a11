import { ClassifiedError, rethrowWithContext } from '../../knowledge/errors/classified-error.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import { configMapOf, secretNameOf, trustDomainOf } from '../../knowledge/subject-ref.js';
import type { KubeConfigMapKeyRef, KubernetesInventoryPort, KubeTrustBundleRead } from '../../ports/kubernetes.port.js';
import type { SpireBundle } from '../../ports/spire.port.js';
import { bundleMarkedSimulated, PermanentActionError, type ActionContext, type Precheck, type RemediationAction } from '../action.js';
import { bundlePem, serverPrints, short } from './bundle-pem.js';
import { bundleSecretOf, performSecret, precheckSecret } from './sync-bundle-secret.js';
import {
  EVENT_REASONS,
  kubeFailureOf,
  needKubernetes,
  needSpireServer,
  numberParam,
  platformScopeRefusal,
  recordActionEvent,
  stringParam,
} from './kube-events.js';

/** The key SPIRE's k8sbundle notifier writes. */
const DEFAULT_KEY = 'bundle.crt';

/** Where the bundle goes, and the trust domain the target names (if it names one). */
interface Destination {
  readonly ref: KubeConfigMapKeyRef;
  readonly trustDomain: string | undefined;
}

/** The ConfigMap key a `configmap:<ns>/<name>` or `trust-domain:<td>` target means, or a skip. */
function destinationOf(job: RemediationRequest, kube: KubernetesInventoryPort): Destination | { readonly skip: Precheck } {
  const configured = kube.trustBundleRef();
  const key = stringParam(job, 'key');
  const td = trustDomainOf(job.target);
  if (td !== null) return { ref: { ...configured, ...(key === undefined ? {} : { key }) }, trustDomain: td };
  const cm = configMapOf(job.target);
  if (cm === null)
    return {
      skip: {
        proceed: false,
        detail: `sync_bundle acts on configmap:<ns>/<name>, secret:projects/<p>/secrets/<s> and trust-domain:<td> targets; ${job.target} is none of them`,
      },
    };
  const { namespace, name } = cm;
  const isConfigured = namespace === configured.namespace && name === configured.name;
  return { ref: { namespace, name, key: key ?? (isConfigured ? configured.key : DEFAULT_KEY) }, trustDomain: undefined };
}

/** Re-exported: the PEM form lives in bundle-pem.ts, shared with the Secret Manager destination. */
export { bundlePem };

/** True when the ConfigMap key holds exactly the server's authorities (SHA-256 set, nothing else). */
function holdsServerBundle(cm: KubeTrustBundleRead, server: SpireBundle): boolean {
  const have = cm.bundle.certificates.map((c) => c.sha256).sort();
  const want = serverPrints(server);
  return cm.bundle.problems.length === 0 && have.length === want.length && have.every((p, i) => p === want[i]);
}

/** Reads the server bundle and the ConfigMap after checking the target, its scope and the server's trust domain. */
async function readBoth(
  job: RemediationRequest,
  ctx: ActionContext,
  signal: AbortSignal,
): Promise<{ readonly dest: Destination; readonly server: SpireBundle; readonly cm: KubeTrustBundleRead } | { readonly skip: Precheck }> {
  const kube = needKubernetes(ctx, job);
  const dest = destinationOf(job, kube);
  if ('skip' in dest) return dest;
  const { ref } = dest;
  const where = `ConfigMap ${ref.namespace}/${ref.name}`;
  const refusal = platformScopeRefusal(
    where,
    { namespace: ref.namespace, ...(dest.trustDomain === undefined ? {} : { trustDomain: dest.trustDomain }) },
    ctx.scope,
  );
  if (refusal !== null) return { skip: { proceed: false, detail: refusal } };
  const server = await needSpireServer(ctx, job).getBundle(signal);
  if (dest.trustDomain !== undefined && server.trustDomain !== dest.trustDomain) {
    throw new PermanentActionError(
      `the SPIRE server serves trust domain ${server.trustDomain}, not ${dest.trustDomain}: refusing to write its bundle for ${job.target}`,
    );
  }
  // The ConfigMap is judged by the trust domain whose bundle it distributes (the port does not report ConfigMap labels).
  const tdRefusal = platformScopeRefusal(where, { trustDomain: server.trustDomain, simulated: bundleMarkedSimulated(server) }, ctx.scope);
  if (tdRefusal !== null) return { skip: { proceed: false, detail: tdRefusal } };
  if (server.x509Authorities.length === 0)
    throw new PermanentActionError(`the SPIRE server's bundle has no X.509 authorities: refusing to empty ${where}`);
  const cm = await kube.readTrustBundle(ref).catch(rethrowWithContext(`reading ${where}`));
  if (cm === null)
    throw new PermanentActionError(`${where} does not exist; spire-healer rewrites a trust-bundle ConfigMap but does not create one`);
  return { dest, server, cm };
}

/**
 * The ConfigMap destination: writes the SPIRE server's current trust bundle (GetBundle, concatenated PEM of
 * every X.509 authority) into the distributed ConfigMap key (`configmap:<ns>/<name>` key
 * `params.key` or bundle.crt; `trust-domain:<td>`: the ConfigMap the inventory watches), as SPIRE's
 * k8sbundle notifier does: a replace carrying the resourceVersion it compared against, re-read and
 * retried on 409 Conflict up to `params.maxConflicts` (default 5) times. Skipped when the key
 * already holds exactly the server's authorities (SHA-256 fingerprints). Records a Kubernetes
 * Event on the ConfigMap. Needs ctx.kubernetes and ctx.spireServer.
 */
const configMap = {
  async precheck(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<Precheck> {
    const read = await readBoth(job, ctx, signal);
    if ('skip' in read) return read.skip;
    const {
      dest: { ref },
      server,
      cm,
    } = read;
    const where = `ConfigMap ${ref.namespace}/${ref.name} key ${ref.key}`;
    if (holdsServerBundle(cm, server)) {
      return {
        proceed: false,
        detail: `${where} already holds the server's ${server.x509Authorities.length} X.509 authorities (${short(serverPrints(server))}): nothing to sync`,
      };
    }
    const have = cm.bundle.certificates.map((c) => c.sha256).sort();
    const problems = cm.bundle.problems.length === 0 ? '' : `; ${cm.bundle.problems.join('; ')}`;
    return {
      proceed: true,
      detail: `${where} holds ${have.length} certificate(s) (${short(have)}) but the server's bundle (sequence ${server.sequenceNumber}) has ${server.x509Authorities.length} (${short(serverPrints(server))})${problems}`,
    };
  },
  async perform(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<string> {
    const kube = needKubernetes(ctx, job);
    const maxConflicts = numberParam(job, 'maxConflicts', 5, 0, 50);
    for (let conflicts = 0; ; conflicts++) {
      const read = await readBoth(job, ctx, signal);
      if ('skip' in read) throw new PermanentActionError(read.skip.detail);
      const {
        dest: { ref },
        server,
        cm,
      } = read;
      const where = `ConfigMap ${ref.namespace}/${ref.name} key ${ref.key}`;
      if (holdsServerBundle(cm, server))
        return `${where} already holds the server's ${server.x509Authorities.length} X.509 authorities (written concurrently); nothing written`;
      let written: string;
      try {
        written = await kube.writeTrustBundle(ref, bundlePem(server), cm.bundle.resourceVersion);
      } catch (e: unknown) {
        if (kubeFailureOf(e)?.code !== 'conflict') rethrowWithContext(`writing ${where}`)(e);
        if (conflicts >= maxConflicts)
          throw new ClassifiedError(
            `${where} kept changing under the write: ${conflicts + 1} conflicts (409), giving up for now`,
            'retryable',
            {
              cause: e,
            },
          );
        continue;
      }
      const note = await recordActionEvent(
        ctx,
        job,
        { apiVersion: 'v1', kind: 'ConfigMap', namespace: ref.namespace, name: ref.name },
        EVENT_REASONS.syncBundle,
        'UpdateTrustBundle',
        `wrote the SPIRE server's trust bundle (sequence ${server.sequenceNumber}, ${server.x509Authorities.length} X.509 authorities) to key ${ref.key}`,
      );
      const retried = conflicts === 0 ? '' : ` after ${conflicts} conflict(s) (409, re-read and retried)`;
      return (
        `wrote the server's ${server.x509Authorities.length} X.509 authorities (${short(serverPrints(server))}, sequence ${server.sequenceNumber}) to ${where}` +
        ` (resourceVersion ${cm.bundle.resourceVersion} → ${written})${retried}${note}`
      );
    }
  },
};

/** One place the bundle is distributed to. */
interface BundleCopy {
  readonly what: string;
  precheck(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<Precheck>;
  perform(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<string>;
}

/**
 * Where a job's bundle goes: `configmap:<ns>/<name>` the ConfigMap; `secret:<name>` the Secret
 * Manager secret; `trust-domain:<td>` the configured ConfigMap (when Kubernetes is configured) and
 * the configured Cloud Run bundle secret (`params.secret` or `sources.cloudRun.bundleSecret`, when
 * set), each synced on its own.
 */
function destinations(job: RemediationRequest, ctx: ActionContext): BundleCopy[] {
  const secretOf = (secret: string, td: string | undefined): BundleCopy => ({
    what: `secret ${secret}`,
    precheck: (j, c, s) => precheckSecret(j, c, secret, td, s),
    perform: (j, c, s) => performSecret(j, c, secret, td, s),
  });
  const named = secretNameOf(job.target);
  if (named !== null) return [secretOf(named, undefined)];
  const td = trustDomainOf(job.target);
  if (td === null) return [{ what: job.target, ...configMap }];
  const secret = bundleSecretOf(job, ctx);
  const hasKube = ctx.kubernetes !== undefined && ctx.kubernetes !== null;
  if (secret === null || (ctx.secrets ?? null) === null) return [{ what: 'the bundle ConfigMap', ...configMap }];
  return [...(hasKube ? [{ what: 'the bundle ConfigMap', ...configMap }] : []), secretOf(secret, td)];
}

/**
 * sync_bundle: makes every distributed copy of the trust bundle that the target names equal to the
 * SPIRE server's current bundle: the bundle ConfigMap (see `configMap` above) and, for Cloud Run,
 * the Secret Manager secret the services mount (sync-bundle-secret.ts: a new version, then new
 * revisions so the workloads read it). A trust-domain target with both proceeds when either is
 * stale and acts only on the stale one(s). Needs ctx.spireServer, and ctx.kubernetes or
 * ctx.secrets + ctx.cloudrun for its destination.
 */
export const syncBundleAction: RemediationAction = {
  name: 'sync_bundle',
  async precheck(job, ctx, signal) {
    const dests = destinations(job, ctx);
    const checks = await Promise.all(dests.map((d) => d.precheck(job, ctx, signal)));
    const proceed = checks.some((c) => c.proceed);
    const detail = checks.map((c) => c.detail).join('; ');
    return proceed ? { proceed: true, detail } : { proceed: false, detail };
  },
  async perform(job, ctx, signal) {
    const dests = destinations(job, ctx);
    if (dests.length === 1 && dests[0] !== undefined) return dests[0].perform(job, ctx, signal);
    const out: string[] = [];
    for (const d of dests) {
      const check = await d.precheck(job, ctx, signal);
      out.push(check.proceed ? await d.perform(job, ctx, signal) : check.detail);
    }
    return out.join('; ');
  },
};
