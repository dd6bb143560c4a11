/**
 * The simulated fleet's Cloud Run side: one service per Cloud Run workload, annotated with its
 * Envoy admin URL and SPIFFE ID (how the daemon enrols it), served by the fake Admin API v2.
 * Every service carries spire-healer.io/simulated: "true" (SIMULATED_MARKER) as a label and as an
 * annotation (the Cloud Run port reports both: actions read the annotation live, and the label reaches
 * the workload's labels, their fallback when the service cannot be read): what actions read to refuse
 * this fleet in production and anything else in a simulation.
 *
 * Next to it runs a fake Secret Manager holding the trust-domain CA bundle secret
 * `projects/<first project>/secrets/spire-bundle` (labelled with the marker too), version 1 = the
 * server's bundle at start; every service mounts it (`latest`) into its Envoy container, so what a
 * workload reads from the mount is the secret's state, and only a sync changes it.
 */
import { SimCloudRunAdminServer } from './cloudrun/cloudrun-admin-server.js';
import { SimCloudRun } from './cloudrun/cloudrun-state.js';
import { BUNDLE_VOLUME, seedCloudRun } from './cloudrun/seed-cloudrun.js';
import { SimSecretManagerServer } from './secretmanager/secret-manager-server.js';
import { SimSecretManager } from './secretmanager/secret-manager-state.js';
import type { SimWorkload } from './world.js';
import { SIMULATED_LABELS } from './world-model.js';

const CLOUDRUN_ADMIN_URL_ANNOTATION = 'spire-healer.io/envoy-admin-url';
const CLOUDRUN_SPIFFE_ID_ANNOTATION = 'spire-healer.io/spiffe-id';

/** A running fake Cloud Run for a world's Cloud Run workloads. */
export interface SimCloudRunFleet {
  readonly state: SimCloudRun;
  readonly endpoint: string;
  readonly locations: readonly { readonly project: string; readonly location: string }[];
  /** Full service resource name of a workload ("<project>/<region>/<service>"). */
  serviceName(workloadId: string): string;
  /** Whether the service's newest revision is ready (a fault on it is then over). */
  latestRevisionReady(workloadId: string): boolean;
  /**
   * Workloads whose serving revision (latestReadyRevision) changed since the previous call: their
   * instances were replaced, so their Envoy starts anew (and fetches the agent's current SVID).
   */
  newReadyRevisions(): string[];
  /** The fake Secret Manager (secrets, versions, call faults). */
  readonly secrets: SimSecretManager;
  /** host:port of the fake Secret Manager API. */
  readonly secretManagerEndpoint: string;
  /** projects/<project>/secrets/spire-bundle: the CA bundle every service mounts. */
  readonly bundleSecret: string;
  /**
   * The CA bundle (PEM) a workload's instances read from the mounted secret, as Cloud Run resolves
   * the version of its current template (latest, or the pinned number); null when it mounts none
   * or that version cannot be read.
   */
  mountedBundle(workloadId: string): string | null;
  close(): Promise<void>;
}

/** The secret id of the simulated CA-bundle secret. */
export const BUNDLE_SECRET_ID = 'spire-bundle';

/** Seeds and starts the fake Admin API; null when the world has no Cloud Run workloads. */
export async function startSimCloudRun(
  workloads: readonly SimWorkload[],
  adminUrl: (workloadId: string) => string,
  now: () => number,
  bundlePem = '',
): Promise<SimCloudRunFleet | null> {
  const run = workloads.filter((w) => w.platform === 'cloudrun');
  if (run.length === 0) return null;
  const state = new SimCloudRun({ now, readyDelayMs: 1_000 });
  const byLocation = new Map<string, SimWorkload[]>();
  for (const w of run) byLocation.set(w.location, [...(byLocation.get(w.location) ?? []), w]);
  const locations = [...byLocation.keys()].map((l) => {
    const [project = '', location = ''] = l.split('/');
    return { project, location };
  });
  const secretProject = locations[0]?.project ?? '';
  const bundleSecret = `projects/${secretProject}/secrets/${BUNDLE_SECRET_ID}`;
  const secrets = new SimSecretManager(now);
  secrets.createSecret(bundleSecret, SIMULATED_LABELS);
  secrets.addVersion(bundleSecret, Buffer.from(bundlePem));
  for (const { project, location } of locations) {
    seedCloudRun(state, {
      project,
      location,
      labels: SIMULATED_LABELS,
      bundleSecret: { secret: project === secretProject ? BUNDLE_SECRET_ID : bundleSecret, version: 'latest' },
      services: (byLocation.get(`${project}/${location}`) ?? []).map((w) => ({
        serviceId: serviceIdOf(w.id),
        image: `europe-docker.pkg.dev/${project}/apps/${serviceIdOf(w.id).replace(/-\d+$/, '')}:1`,
        spiffeId: w.spiffeId,
        annotations: { [CLOUDRUN_ADMIN_URL_ANNOTATION]: adminUrl(w.id), [CLOUDRUN_SPIFFE_ID_ANNOTATION]: w.spiffeId, ...SIMULATED_LABELS },
      })),
    });
  }
  const server = new SimCloudRunAdminServer(state);
  const { port } = await server.start(0);
  const secretServer = new SimSecretManagerServer(secrets);
  const secretPort = (await secretServer.start(0)).port;
  const serviceName = (id: string): string => {
    const [project = '', location = ''] = id.split('/');
    return `projects/${project}/locations/${location}/services/${serviceIdOf(id)}`;
  };
  const serving = (id: string): string => state.servingRevision(serviceName(id));
  const lastServing = new Map(run.map((w) => [w.id, serving(w.id)]));
  return {
    state,
    endpoint: `127.0.0.1:${port}`,
    locations,
    serviceName,
    latestRevisionReady: (id) => state.revisions(serviceName(id)).at(-1)?.state === 'ready',
    newReadyRevisions: () =>
      run.flatMap((w) => {
        const now = serving(w.id);
        if (now === lastServing.get(w.id)) return [];
        lastServing.set(w.id, now);
        return [w.id];
      }),
    secrets,
    secretManagerEndpoint: `127.0.0.1:${secretPort}`,
    bundleSecret,
    mountedBundle: (id) => {
      type SecretVolume = { name?: string; secret?: { items?: { version?: string }[] } | null };
      const volumes = (state.getService(serviceName(id)).template?.volumes ?? []) as SecretVolume[];
      const volume = volumes.find((v) => v.name === BUNDLE_VOLUME);
      const version = volume?.secret?.items?.[0]?.version;
      return version === undefined ? null : secrets.read(bundleSecret, version === '' ? 'latest' : version);
    },
    close: async () => {
      await server.close();
      await secretServer.close();
    },
  };
}

/** "<project>/<region>/<service>" → "<service>". */
function serviceIdOf(workloadId: string): string {
  return workloadId.split('/').slice(2).join('/');
}
