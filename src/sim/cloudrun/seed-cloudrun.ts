import type { SimCloudRun, SimRevisionTemplateSpec } from './cloudrun-state.js';

/** Service and template annotation carrying the workload's SPIFFE ID. */
const SPIFFE_ID_ANNOTATION = 'spire-healer.dev/spiffe-id';

/** Images of the seeded containers: the app, its Envoy sidecar and a SPIRE agent sidecar. */
export const SEED_IMAGES = {
  app: 'us-docker.pkg.dev/cloudrun/container/hello:latest',
  envoy: 'envoyproxy/envoy:v1.31.2',
  spireAgent: 'ghcr.io/spiffe/spire-agent:1.11.1',
} as const;

/**
 * The revision template a seeded service starts with: ingress through Envoy, SVIDs from a SPIRE agent sidecar, the app image
 * `appImage`.
 */
export function seedTemplate(spiffeId: string, appImage: string = SEED_IMAGES.app): SimRevisionTemplateSpec {
  return {
    annotations: { [SPIFFE_ID_ANNOTATION]: spiffeId },
    containers: [
      { name: 'envoy', image: SEED_IMAGES.envoy, ports: [{ name: 'http1', containerPort: 8080 }], args: ['-c', '/etc/envoy/envoy.yaml'] },
      { name: 'app', image: appImage, env: [{ name: 'PORT', value: '9000' }] },
      {
        name: 'spire-agent',
        image: SEED_IMAGES.spireAgent,
        env: [{ name: 'SPIFFE_ENDPOINT_SOCKET', value: 'unix:///run/spire/sockets/agent.sock' }],
      },
    ],
  };
}

/** Plain data for seedCloudRun: services of one project and location. */
export interface CloudRunSeed {
  readonly project: string;
  readonly location: string;
  /** Labels every service gets besides managed-by (the simulated fleet's spire-healer.io/simulated marker). */
  readonly labels?: Readonly<Record<string, string>>;
  readonly services: readonly {
    /** The service id (lowercase letter first, then letters, digits, dashes). */
    readonly serviceId: string;
    /** Image of the app container (Envoy and SPIRE agent sidecars are added). */
    readonly image: string;
    /** Service-level annotations. */
    readonly annotations?: Readonly<Record<string, string>>;
    /** Extra revision-template annotations. */
    readonly templateAnnotations?: Readonly<Record<string, string>>;
    /** SPIFFE ID recorded in the template (default spiffe://example.org/cloudrun/<serviceId>). */
    readonly spiffeId?: string;
  }[];
  /**
   * A CA-bundle secret every service mounts into its Envoy container at BUNDLE_MOUNT_PATH (file
   * bundle.crt): `secret` as the template writes it ("<secret>" in the same project or
   * projects/<p>/secrets/<s>), `version` "latest" or a number.
   */
  readonly bundleSecret?: { readonly secret: string; readonly version: string };
}

/** Where a seeded service's Envoy finds the mounted CA bundle (bundleSecret). */
export const BUNDLE_MOUNT_PATH = '/etc/spire-bundle';
/** The volume name of the mounted CA bundle. */
export const BUNDLE_VOLUME = 'spire-bundle';

function withBundleSecret(
  template: SimRevisionTemplateSpec,
  mount: { readonly secret: string; readonly version: string },
): SimRevisionTemplateSpec {
  return {
    ...template,
    containers: template.containers.map((c) =>
      c.name === 'envoy' ? { ...c, volumeMounts: [...(c.volumeMounts ?? []), { name: BUNDLE_VOLUME, mountPath: BUNDLE_MOUNT_PATH }] } : c,
    ),
    volumes: [
      ...(template.volumes ?? []),
      { name: BUNDLE_VOLUME, secret: { secret: mount.secret, items: [{ path: 'bundle.crt', version: mount.version }] } },
    ],
  };
}

/**
 * Creates one ready service (generation 1, revision <id>-00001-xyz) per entry of `seed`, in
 * projects/<project>/locations/<location>. Returns the service names in seed order. Throws for a
 * bad id or a duplicate.
 */
export function seedCloudRun(sim: SimCloudRun, seed: CloudRunSeed): string[] {
  return seed.services.map((s) => {
    const name = `projects/${seed.project}/locations/${seed.location}/services/${s.serviceId}`;
    const base = seedTemplate(s.spiffeId ?? `spiffe://example.org/cloudrun/${s.serviceId}`, s.image);
    const template = seed.bundleSecret === undefined ? base : withBundleSecret(base, seed.bundleSecret);
    sim.createService({
      name,
      labels: { 'managed-by': 'spire-healer-sim', ...seed.labels },
      annotations: { ...s.annotations },
      template: { ...template, annotations: { ...template.annotations, ...s.templateAnnotations } },
    });
    return name;
  });
}
