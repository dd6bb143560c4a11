import { readInputFile } from './read-input-file.js';
import { z } from 'zod';
import { parseDuration } from '../knowledge/duration.js';
import { formatYamlProblem, validateYaml } from '../knowledge/yaml-validation.js';
import type { Workload } from '../knowledge/model/workload.js';
import type { SourceEndpoints } from '../ports/source-endpoints.js';

const duration = z.string().refine((s) => parseDuration(s) !== null, { message: 'expected a duration like 500ms, 2s, 5m, 1h' });
const ms = (d: string): number => parseDuration(d) ?? 0;

const targetSchema = z.strictObject({
  id: z.string().min(1),
  spiffeId: z.string().regex(/^spiffe:\/\/[^/]+(\/.*)?$/, 'expected a SPIFFE ID like spiffe://example.org/ns/app/sa/web'),
  platform: z.enum(['kubernetes', 'cloudrun']).default('kubernetes'),
  location: z.string().min(1),
  node: z.string().optional(),
  agentId: z.string().optional(),
  envoyAdmin: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL of the Envoy admin endpoint' }),
});

const spiffeEndpoint = z.string().regex(/^(unix:\/\/\/|tcp:\/\/)/, 'expected a SPIFFE endpoint: unix:///path/to.sock or tcp://IP:port');

/** Where the monitor reads SPIRE, Kubernetes and Cloud Run (each optional). */
const sourcesSchema = z
  .strictObject({
    spire: z
      .strictObject({
        trustDomain: z.string().regex(/^[a-z0-9.-]+$/, 'expected a trust domain name like example.org'),
        /** The SPIRE server API (Agent, Bundle, LocalAuthority); unset = no server-side reads. */
        server: spiffeEndpoint.optional(),
        /** Agents to poll (Debug) and stream (Delegated Identity); Kubernetes discovery adds annotated agent pods. */
        agents: z
          .array(
            z.strictObject({
              node: z.string().min(1),
              adminEndpoint: spiffeEndpoint,
              healthUrl: z
                .url({ protocol: /^https?$/, error: 'expected the base URL of the agent health listener, e.g. http://10.0.0.5:8080' })
                .optional(),
            }),
          )
          .default([]),
        delegatedIdentity: z.boolean().default(true),
        pollInterval: duration.default('10s'),
      })
      .optional(),
    kubernetes: z
      .strictObject({
        /** API server URL; unset = in-cluster service account, then KUBECONFIG. */
        server: z.url({ protocol: /^https?$/, error: 'expected the API server URL, e.g. https://10.0.0.1:443' }).optional(),
        bundleConfigMap: z
          .string()
          .regex(/^[a-z0-9-]+\/[a-z0-9.-]+$/, 'expected namespace/name')
          .default('spire/spire-bundle'),
        spireNamespace: z.string().default('spire'),
      })
      .optional(),
    cloudRun: z
      .strictObject({
        /** host:port of the Admin API; unset = run.googleapis.com with application default credentials. */
        endpoint: z
          .string()
          .regex(/^[^:/]+:\d+$/, 'expected host:port')
          .optional(),
        insecure: z.boolean().default(false),
        locations: z.array(z.strictObject({ project: z.string().min(1), location: z.string().min(1) })).min(1),
        pollInterval: duration.default('15s'),
        /** The Secret Manager secret Cloud Run services mount as their CA bundle; sync_bundle keeps it equal to the server's bundle. */
        bundleSecret: z
          .string()
          .regex(
            /^projects\/[a-z0-9-]+\/secrets\/[A-Za-z0-9_-]{1,255}$/,
            'expected projects/<project>/secrets/<secret>, e.g. projects/acme/secrets/spire-bundle',
          )
          .optional(),
        /** host:port of the Secret Manager API; unset = secretmanager.googleapis.com with application default credentials. */
        secretManagerEndpoint: z
          .string()
          .regex(/^[^:/]+:\d+$/, 'expected host:port')
          .optional(),
      })
      .superRefine((c, ctx) => {
        // Least privilege: the secret lives in a project the daemon already watches.
        const project = /^projects\/([^/]+)\/secrets\/[^/]+$/.exec(c.bundleSecret ?? '')?.[1];
        const projects = [...new Set(c.locations.map((l) => l.project))];
        if (project !== undefined && !projects.includes(project)) {
          ctx.addIssue({
            code: 'custom',
            path: ['bundleSecret'],
            message: `the secret's project ${project} is not one of the configured Cloud Run projects (${projects.join(', ')}): sync_bundle only writes secrets in the projects of sources.cloudRun.locations (use the project id, not its number)`,
          });
        }
      })
      .optional(),
  })
  .prefault({});

/** The config file schema. Unknown keys are errors (strict objects), so typos never pass silently. */
export const configSchema = z.strictObject({
  production: z.boolean().default(false),
  redis: z
    .strictObject({
      url: z
        .string()
        .regex(/^rediss?:\/\//, 'expected redis://host:port or rediss://…')
        .optional(),
      keyPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/, 'expected letters, digits, _ . -')
        .default('spire-healer'),
    })
    .prefault({}),
  http: z
    .strictObject({
      listen: z
        .string()
        .regex(/^(\[[0-9a-fA-F:]+\]|[^:]*):\d+$/, 'expected host:port')
        .default('0.0.0.0:9464'),
    })
    .prefault({}),
  intervals: z
    .strictObject({
      monitor: duration.default('5s'),
      analyze: duration.default('2s'),
      plan: duration.default('2s'),
      maxBackoff: duration.default('60s'),
    })
    .prefault({}),
  monitor: z.strictObject({ concurrency: z.int().min(1).max(1024).default(32) }).prefault({}),
  analyze: z
    .strictObject({
      rotateAtFraction: z.number().gt(0).lt(1).default(0.5),
      rotationGrace: duration.default('5s'),
      staleAfter: duration.default('30s'),
      agentSyncStale: duration.default('60s'),
      agentDownFor: duration.default('15s'),
      bundleDriftGrace: duration.default('5m'),
      mtlsWindow: duration.default('10m'),
      mtlsErrorRatio: z.number().gt(0).lt(1).default(0.01),
      cloudRunNotReadyFor: duration.default('60s'),
      healthyFor: duration.default('30s'),
      flapMaxCycles: z.int().min(1).max(100).default(3),
      flapWindow: duration.default('30m'),
      stormShare: z.number().gt(0).lt(1).default(0.5),
      stormMinWorkloads: z.int().min(1).default(10),
    })
    .prefault({}),
  execute: z
    .strictObject({
      concurrency: z.int().min(1).max(256).default(4),
      /** Least privilege: actions refuse targets outside these (empty: any). */
      trustDomains: z.array(z.string().min(1)).default([]),
      namespaces: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  playbooks: z.array(z.string().min(1)).default([]),
  targets: z.array(targetSchema).default([]),
  sources: sourcesSchema,
});

/** Monitor sources with durations in ms. */
export type SourcesConfig = SourceEndpoints;

/** The daemon's configuration with durations in milliseconds. */
export interface DaemonConfig {
  readonly production: boolean;
  readonly redis: { readonly url: string | undefined; readonly keyPrefix: string };
  readonly http: { readonly listen: string };
  readonly intervals: { readonly monitorMs: number; readonly analyzeMs: number; readonly planMs: number; readonly maxBackoffMs: number };
  readonly monitor: { readonly concurrency: number };
  readonly analyze: {
    readonly rotateAtFraction: number;
    readonly rotationGraceMs: number;
    readonly staleAfterMs: number;
    readonly agentSyncStaleMs: number;
    readonly agentDownForMs: number;
    readonly bundleDriftGraceMs: number;
    readonly mtlsWindowMs: number;
    readonly mtlsErrorRatio: number;
    readonly cloudRunNotReadyForMs: number;
    readonly healthyForMs: number;
    readonly flapMaxCycles: number;
    readonly flapWindowMs: number;
    readonly stormShare: number;
    readonly stormMinWorkloads: number;
  };
  readonly execute: { readonly concurrency: number; readonly trustDomains: readonly string[]; readonly namespaces: readonly string[] };
  /** Set by demo/simulate: the ports point at the simulated fleet (actions then refuse real targets). */
  readonly simulated?: boolean;
  /** Playbook file paths, resolved relative to the config file. */
  readonly playbooks: readonly string[];
  readonly targets: readonly Workload[];
  readonly sources: SourcesConfig;
}

/** A config file that cannot be used; the message is one line per problem naming file:line:col and key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Validates config YAML text (pure apart from nothing: no I/O). */
export function parseConfig(file: string, text: string, baseDir = '.'): DaemonConfig {
  const res = validateYaml(file, text.trim() === '' ? '{}' : text, configSchema);
  if (!res.ok) throw new ConfigError(res.problems.map(formatYamlProblem).join('\n'));
  const c = res.value;
  return {
    production: c.production,
    redis: { url: c.redis.url, keyPrefix: c.redis.keyPrefix },
    http: c.http,
    intervals: {
      monitorMs: ms(c.intervals.monitor),
      analyzeMs: ms(c.intervals.analyze),
      planMs: ms(c.intervals.plan),
      maxBackoffMs: ms(c.intervals.maxBackoff),
    },
    monitor: c.monitor,
    analyze: {
      rotateAtFraction: c.analyze.rotateAtFraction,
      rotationGraceMs: ms(c.analyze.rotationGrace),
      staleAfterMs: ms(c.analyze.staleAfter),
      agentSyncStaleMs: ms(c.analyze.agentSyncStale),
      agentDownForMs: ms(c.analyze.agentDownFor),
      bundleDriftGraceMs: ms(c.analyze.bundleDriftGrace),
      mtlsWindowMs: ms(c.analyze.mtlsWindow),
      mtlsErrorRatio: c.analyze.mtlsErrorRatio,
      cloudRunNotReadyForMs: ms(c.analyze.cloudRunNotReadyFor),
      healthyForMs: ms(c.analyze.healthyFor),
      flapMaxCycles: c.analyze.flapMaxCycles,
      flapWindowMs: ms(c.analyze.flapWindow),
      stormShare: c.analyze.stormShare,
      stormMinWorkloads: c.analyze.stormMinWorkloads,
    },
    execute: c.execute,
    playbooks: c.playbooks.map((p) => (p.startsWith('/') ? p : `${baseDir}/${p}`)),
    targets: c.targets.map((t) => {
      const td = new URL(t.spiffeId).host;
      return {
        id: t.id,
        spiffeId: t.spiffeId,
        trustDomain: td,
        platform: t.platform,
        location: t.location,
        envoyAdminUrl: t.envoyAdmin.replace(/\/+$/, ''),
        ...(t.node === undefined ? {} : { node: t.node }),
        ...(t.agentId === undefined ? {} : { agentId: t.agentId }),
      };
    }),
    sources: sourcesOf(c.sources),
  };
}

function sourcesOf(s: z.infer<typeof sourcesSchema>): SourcesConfig {
  const { spire, kubernetes, cloudRun } = s;
  return {
    ...(spire === undefined
      ? {}
      : {
          spire: {
            trustDomain: spire.trustDomain,
            agents: spire.agents.map((a) => ({
              node: a.node,
              adminEndpoint: a.adminEndpoint,
              ...(a.healthUrl === undefined ? {} : { healthUrl: a.healthUrl }),
            })),
            delegatedIdentity: spire.delegatedIdentity,
            pollIntervalMs: ms(spire.pollInterval),
            ...(spire.server === undefined ? {} : { server: spire.server }),
          },
        }),
    ...(kubernetes === undefined
      ? {}
      : {
          kubernetes: {
            bundleConfigMap: kubernetes.bundleConfigMap,
            spireNamespace: kubernetes.spireNamespace,
            ...(kubernetes.server === undefined ? {} : { server: kubernetes.server }),
          },
        }),
    ...(cloudRun === undefined
      ? {}
      : {
          cloudRun: {
            insecure: cloudRun.insecure,
            locations: cloudRun.locations,
            pollIntervalMs: ms(cloudRun.pollInterval),
            ...(cloudRun.endpoint === undefined ? {} : { endpoint: cloudRun.endpoint }),
            ...(cloudRun.bundleSecret === undefined ? {} : { bundleSecret: cloudRun.bundleSecret }),
            ...(cloudRun.secretManagerEndpoint === undefined ? {} : { secretManagerEndpoint: cloudRun.secretManagerEndpoint }),
          },
        }),
  };
}

/** Reads and validates a config file; unreadable files are ConfigErrors naming the path. */
export async function loadConfig(path: string): Promise<DaemonConfig> {
  const file = await readInputFile(path, 'config');
  if (!file.ok) throw new ConfigError(file.message);
  const text = file.text;
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '.';
  return parseConfig(path, text, dir);
}

/** Defaults for every field (what an empty config file yields). */
export function defaultConfig(): DaemonConfig {
  return parseConfig('<defaults>', '{}');
}
