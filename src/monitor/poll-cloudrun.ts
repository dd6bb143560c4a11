import type { Clock } from '../knowledge/clock.js';
import type { Observation } from '../knowledge/model/observation.js';
import type { Workload } from '../knowledge/model/workload.js';
import { cloudRunLocationSubject, secretSubject } from '../knowledge/subject-ref.js';
import type { CloudRunPort, CloudRunService } from '../ports/cloudrun.port.js';
import type { SecretStorePort } from '../ports/secret-store.port.js';
import { parseBundlePem } from './parse-bundle-pem.js';
import { probeError, recordObservation, type ObservationSink } from './record-observation.js';
import type { SweepResult } from './sweep-envoys.js';

/** Service annotations that enrol a Cloud Run service as a workload (its Envoy admin and identity). */
export const CLOUDRUN_ADMIN_URL_ANNOTATION = 'spire-healer.io/envoy-admin-url';
export const CLOUDRUN_SPIFFE_ID_ANNOTATION = 'spire-healer.io/spiffe-id';

/** One project/region to list. */
export interface CloudRunLocation {
  readonly project: string;
  readonly location: string;
}

/** Collaborators of the Cloud Run poll. */
export interface CloudRunPollDeps extends ObservationSink {
  readonly cloudRun: CloudRunPort;
  readonly endpoint: string;
  readonly clock: Clock;
  readonly trustDomain: string;
  /** The CA-bundle secret to observe (sources.cloudRun.bundleSecret) and how to read it; absent: not observed. */
  readonly bundleSecret?: { readonly secret: string; readonly store: SecretStorePort; readonly endpoint: string };
}

/** The fleet-model id of a Cloud Run service: "<project>/<region>/<service>". */
export const cloudRunWorkloadId = (s: { project: string; location: string; serviceId: string }): string =>
  `${s.project}/${s.location}/${s.serviceId}`;

/**
 * Lists the services of every configured location: one `cloudrun.service` observation per service
 * (subject: its workload id), and the services annotated with an Envoy admin URL as workloads.
 * A location that cannot be listed is one `probe.error` observation (subject "cloudrun:<project>/<region>").
 */
export async function pollCloudRun(
  deps: CloudRunPollDeps,
  locations: readonly CloudRunLocation[],
  signal?: AbortSignal,
): Promise<SweepResult & { readonly workloads: readonly Workload[] }> {
  let failed = 0;
  let changed = 0;
  let probed = 0;
  const workloads: Workload[] = [];
  for (const loc of locations) {
    let services: CloudRunService[];
    try {
      services = await deps.cloudRun.listServices(loc.project, loc.location, signal);
    } catch (e) {
      failed++;
      const obs = probeError(
        cloudRunLocationSubject(loc.project, loc.location),
        'cloudrun.service',
        `${deps.endpoint} ListServices projects/${loc.project}/locations/${loc.location}`,
        e,
        deps.clock.now(),
      );
      if (await recordObservation(deps, obs)) changed++;
      continue;
    }
    for (const s of services) {
      probed++;
      if (await recordObservation(deps, serviceObservation(s, deps.clock.now()))) changed++;
      const w = workloadOf(s, deps.trustDomain);
      if (w !== null) workloads.push(w);
    }
  }
  if (deps.bundleSecret !== undefined) {
    probed++;
    const res = await observeBundleSecret(deps, deps.bundleSecret, signal);
    if (res.failed) failed++;
    if (res.changed) changed++;
  }
  return { probed, failed, changed, workloads };
}

/**
 * Reads the latest version of the CA-bundle secret and records its certificates as a
 * `cloudrun.bundle` observation on `secret:<name>` (no readable version: no certificates and a
 * problem); a failed read is a `probe.error` naming the endpoint.
 */
async function observeBundleSecret(
  deps: CloudRunPollDeps,
  b: NonNullable<CloudRunPollDeps['bundleSecret']>,
  signal?: AbortSignal,
): Promise<{ readonly failed: boolean; readonly changed: boolean }> {
  const subject = secretSubject(b.secret);
  let obs: Observation;
  let failed = false;
  try {
    const latest = await b.store.readLatest(b.secret, signal);
    const where = `secret ${b.secret}${latest === null ? '' : ` version ${latest.version}`}`;
    const parsed =
      latest === null
        ? { certificates: [], problems: [`secret ${b.secret} has no readable version`] }
        : parseBundlePem(Buffer.from(latest.data).toString('utf8'), where);
    obs = {
      subject,
      source: 'cloudrun.bundle',
      observedAt: deps.clock.now(),
      data: {
        kind: 'cloudrun.bundle',
        secret: b.secret,
        version: latest?.version ?? null,
        certificates: parsed.certificates,
        problems: parsed.problems,
      },
    };
  } catch (e) {
    failed = true;
    obs = probeError(subject, 'cloudrun.bundle', `${b.endpoint} AccessSecretVersion ${b.secret}/versions/latest`, e, deps.clock.now());
  }
  return { failed, changed: await recordObservation(deps, obs) };
}

function serviceObservation(s: CloudRunService, at: number): Observation {
  return {
    subject: cloudRunWorkloadId(s),
    source: 'cloudrun.service',
    observedAt: at,
    data: {
      kind: 'cloudrun.service',
      service: s.name,
      ready: s.ready,
      latestCreatedRevision: s.latestCreatedRevision,
      latestReadyRevision: s.latestReadyRevision,
      notReady: s.notReady,
    },
  };
}

/** A service enrolled by annotation (with the service's labels), or null. The SPIFFE ID defaults to spiffe://<td>/run/<project>/<region>/<service>. */
function workloadOf(s: CloudRunService, trustDomain: string): Workload | null {
  const admin = s.annotations[CLOUDRUN_ADMIN_URL_ANNOTATION];
  if (admin === undefined || admin === '') return null;
  return {
    id: cloudRunWorkloadId(s),
    platform: 'cloudrun',
    location: `${s.project}/${s.location}`,
    trustDomain,
    spiffeId: s.annotations[CLOUDRUN_SPIFFE_ID_ANNOTATION] ?? `spiffe://${trustDomain}/run/${s.project}/${s.location}/${s.serviceId}`,
    labels: { ...s.labels },
    envoyAdminUrl: admin,
  };
}
