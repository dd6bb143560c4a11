import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import type { KubeConfigMapKeyRef, KubernetesInventoryPort, KubeTrustBundleRead } from '../../ports/kubernetes.port.js';
import type { SpireBundle } from '../../ports/spire.port.js';
import { bundleMarkedSimulated, PermanentActionError, type ActionContext, type Precheck, type RemediationAction } from '../action.js';
import {
  EVENT_REASONS, kubeFailureOf, needKubernetes, needSpireServer, numberParam, platformScopeRefusal, recordActionEvent, rethrowKube, stringParam,
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
  if (job.target.startsWith('trust-domain:')) {
    const td = job.target.slice('trust-domain:'.length);
    return { ref: { ...configured, ...(key === undefined ? {} : { key }) }, trustDomain: td };
  }
  const m = /^configmap:([^/]+)\/([^/]+)$/.exec(job.target);
  if (m === null) return { skip: { proceed: false, detail: `sync_bundle acts on configmap:<ns>/<name> and trust-domain:<td> targets; ${job.target} is neither` } };
  const [namespace = '', name = ''] = [m[1], m[2]];
  const isConfigured = namespace === configured.namespace && name === configured.name;
  return { ref: { namespace, name, key: key ?? (isConfigured ? configured.key : DEFAULT_KEY) }, trustDomain: undefined };
}

/** Concatenated PEM CERTIFICATE blocks of the server's X.509 authorities (what k8sbundle writes). */
export function bundlePem(bundle: SpireBundle): string {
  return bundle.x509Authorities.map((a) => {
    const b64 = Buffer.from(a.certificate.der).toString('base64');
    return `-----BEGIN CERTIFICATE-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;
  }).join('');
}

const serverPrints = (b: SpireBundle): string[] => b.x509Authorities.map((a) => a.certificate.sha256).sort();
const short = (prints: readonly string[]): string => prints.map((p) => p.slice(0, 12)).join(', ');

/** True when the ConfigMap key holds exactly the server's authorities (SHA-256 set, nothing else). */
function holdsServerBundle(cm: KubeTrustBundleRead, server: SpireBundle): boolean {
  const have = cm.bundle.certificates.map((c) => c.sha256).sort();
  const want = serverPrints(server);
  return cm.bundle.problems.length === 0 && have.length === want.length && have.every((p, i) => p === want[i]);
}

/** Reads the server bundle and the ConfigMap after checking the target, its scope and the server's trust domain. */
async function readBoth(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal):
  Promise<{ readonly dest: Destination; readonly server: SpireBundle; readonly cm: KubeTrustBundleRead } | { readonly skip: Precheck }> {
  const kube = needKubernetes(ctx, job);
  const dest = destinationOf(job, kube);
  if ('skip' in dest) return dest;
  const { ref } = dest;
  const where = `ConfigMap ${ref.namespace}/${ref.name}`;
  const refusal = platformScopeRefusal(where, { namespace: ref.namespace, ...(dest.trustDomain === undefined ? {} : { trustDomain: dest.trustDomain }) }, ctx.scope);
  if (refusal !== null) return { skip: { proceed: false, detail: refusal } };
  const server = await needSpireServer(ctx, job).getBundle(signal);
  if (dest.trustDomain !== undefined && server.trustDomain !== dest.trustDomain) {
    throw new PermanentActionError(`the SPIRE server serves trust domain ${server.trustDomain}, not ${dest.trustDomain}: refusing to write its bundle for ${job.target}`);
  }
  // The ConfigMap is judged by the trust domain whose bundle it distributes (the port does not report ConfigMap labels).
  const tdRefusal = platformScopeRefusal(where, { trustDomain: server.trustDomain, simulated: bundleMarkedSimulated(server) }, ctx.scope);
  if (tdRefusal !== null) return { skip: { proceed: false, detail: tdRefusal } };
  if (server.x509Authorities.length === 0) throw new PermanentActionError(`the SPIRE server's bundle has no X.509 authorities: refusing to empty ${where}`);
  const cm = await kube.readTrustBundle(ref).catch((e: unknown) => rethrowKube(e, `reading ${where}`));
  if (cm === null) throw new PermanentActionError(`${where} does not exist; spire-healer rewrites a trust-bundle ConfigMap but does not create one`);
  return { dest, server, cm };
}

/**
 * sync_bundle: writes the SPIRE server's current trust bundle (GetBundle, concatenated PEM of
 * every X.509 authority) into the distributed ConfigMap key (`configmap:<ns>/<name>` key
 * `params.key` or bundle.crt; `trust-domain:<td>`: the ConfigMap the inventory watches), as SPIRE's
 * k8sbundle notifier does: a replace carrying the resourceVersion it compared against, re-read and
 * retried on 409 Conflict up to `params.maxConflicts` (default 5) times. Skipped when the key
 * already holds exactly the server's authorities (SHA-256 fingerprints). Records a Kubernetes
 * Event on the ConfigMap. Needs ctx.kubernetes and ctx.spireServer.
 */
export const syncBundleAction: RemediationAction = {
  name: 'sync_bundle',
  async precheck(job, ctx, signal) {
    const read = await readBoth(job, ctx, signal);
    if ('skip' in read) return read.skip;
    const { dest: { ref }, server, cm } = read;
    const where = `ConfigMap ${ref.namespace}/${ref.name} key ${ref.key}`;
    if (holdsServerBundle(cm, server)) {
      return { proceed: false, detail: `${where} already holds the server's ${server.x509Authorities.length} X.509 authorities (${short(serverPrints(server))}): nothing to sync` };
    }
    const have = cm.bundle.certificates.map((c) => c.sha256).sort();
    const problems = cm.bundle.problems.length === 0 ? '' : `; ${cm.bundle.problems.join('; ')}`;
    return { proceed: true, detail: `${where} holds ${have.length} certificate(s) (${short(have)}) but the server's bundle (sequence ${server.sequenceNumber}) has ${server.x509Authorities.length} (${short(serverPrints(server))})${problems}` };
  },
  async perform(job, ctx, signal) {
    const kube = needKubernetes(ctx, job);
    const maxConflicts = numberParam(job, 'maxConflicts', 5, 0, 50);
    for (let conflicts = 0; ; conflicts++) {
      const read = await readBoth(job, ctx, signal);
      if ('skip' in read) throw new PermanentActionError(read.skip.detail);
      const { dest: { ref }, server, cm } = read;
      const where = `ConfigMap ${ref.namespace}/${ref.name} key ${ref.key}`;
      if (holdsServerBundle(cm, server)) return `${where} already holds the server's ${server.x509Authorities.length} X.509 authorities (written concurrently); nothing written`;
      let written: string;
      try {
        written = await kube.writeTrustBundle(ref, bundlePem(server), cm.bundle.resourceVersion);
      } catch (e: unknown) {
        if (kubeFailureOf(e)?.code !== 'conflict') rethrowKube(e, `writing ${where}`);
        if (conflicts >= maxConflicts) throw new Error(`${where} kept changing under the write: ${conflicts + 1} conflicts (409), giving up for now`, { cause: e });
        continue;
      }
      const note = await recordActionEvent(ctx, job, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ref.namespace, name: ref.name },
        EVENT_REASONS.syncBundle, 'UpdateTrustBundle', `wrote the SPIRE server's trust bundle (sequence ${server.sequenceNumber}, ${server.x509Authorities.length} X.509 authorities) to key ${ref.key}`);
      const retried = conflicts === 0 ? '' : ` after ${conflicts} conflict(s) (409, re-read and retried)`;
      return `wrote the server's ${server.x509Authorities.length} X.509 authorities (${short(serverPrints(server))}, sequence ${server.sequenceNumber}) to ${where}` +
        ` (resourceVersion ${cm.bundle.resourceVersion} → ${written})${retried}${note}`;
    }
  },
};
