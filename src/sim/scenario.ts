import { z } from 'zod';
import { parseDuration } from '../knowledge/duration.js';
import { formatYamlProblem, validateYaml } from '../knowledge/yaml-validation.js';

const duration = z.string().refine((s) => parseDuration(s) !== null, { message: 'expected a duration like 500ms, 2s, 5m' });
const ms = (d: string): number => parseDuration(d) ?? 0;

const workloadGroup = z.strictObject({
  /** Namespace (Kubernetes) or project/region (Cloud Run). */
  location: z.string().regex(/^[a-z0-9][a-z0-9./-]*$/, 'expected a namespace or project/region'),
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lowercase letters, digits and dashes'),
  count: z.int().min(1).max(10_000).default(1),
  platform: z.enum(['kubernetes', 'cloudrun']).default('kubernetes'),
});

const fault = z.strictObject({
  kind: z.enum(['envoy_sds_stuck']),
  /** Workload id: "<location>/<name>-<index>". */
  target: z.string().min(1),
  at: duration,
});

const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().default(''),
  fleet: z.strictObject({
    trustDomain: z.string().regex(/^[a-z0-9.-]+$/, 'expected a trust domain name like example.org').default('example.org'),
    svidTtl: duration.default('10s'),
    envoyRestart: duration.default('500ms'),
    workloads: z.array(workloadGroup).min(1),
  }),
  faults: z.array(fault).default([]),
  expect: z.strictObject({
    incidents: z.array(z.strictObject({ type: z.enum(['rotation_failed']), subject: z.string() })).default([]),
  }).prefault({}),
  run: z.strictObject({
    /** Keep running at least this long even when everything is healed (lets healthy rotations happen). */
    minDuration: duration.default('0s'),
    timeout: duration.default('60s'),
  }).prefault({}),
});

/** One simulated workload, as generated from a scenario group. */
export interface ScenarioWorkload {
  readonly id: string;
  readonly spiffeId: string;
  readonly platform: 'kubernetes' | 'cloudrun';
  readonly location: string;
}

/** A validated scenario with durations in milliseconds and workloads expanded. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly trustDomain: string;
  readonly svidTtlMs: number;
  readonly envoyRestartMs: number;
  readonly workloads: readonly ScenarioWorkload[];
  readonly faults: readonly { readonly kind: 'envoy_sds_stuck'; readonly target: string; readonly atMs: number }[];
  readonly expectedIncidents: readonly { readonly type: 'rotation_failed'; readonly subject: string }[];
  readonly minDurationMs: number;
  readonly timeoutMs: number;
}

/** A scenario file that cannot be used; one line per problem naming file:line:column and key. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

/** Pure: scenario YAML -> Scenario, or ScenarioError naming every problem. */
export function parseScenario(file: string, text: string): Scenario {
  const res = validateYaml(file, text, scenarioSchema);
  if (!res.ok) throw new ScenarioError(res.problems.map(formatYamlProblem).join('\n'));
  const s = res.value;
  const workloads: ScenarioWorkload[] = s.fleet.workloads.flatMap((g) =>
    Array.from({ length: g.count }, (_, i) => ({
      id: `${g.location}/${g.name}-${i}`,
      spiffeId: g.platform === 'kubernetes' ? `spiffe://${s.fleet.trustDomain}/ns/${g.location}/sa/${g.name}` : `spiffe://${s.fleet.trustDomain}/run/${g.location}/${g.name}`,
      platform: g.platform,
      location: g.location,
    })));
  const ids = new Set(workloads.map((w) => w.id));
  if (ids.size !== workloads.length) throw new ScenarioError(`${file}: fleet.workloads: two groups generate the same workload ids`);
  const problems: string[] = [];
  s.faults.forEach((f, i) => {
    if (!ids.has(f.target)) problems.push(`${file}: faults.${i}.target: no workload "${f.target}" in the fleet (ids look like ${workloads[0]?.id ?? '?'})`);
  });
  s.expect.incidents.forEach((e, i) => {
    if (!ids.has(e.subject)) problems.push(`${file}: expect.incidents.${i}.subject: no workload "${e.subject}" in the fleet`);
  });
  if (problems.length > 0) throw new ScenarioError(problems.join('\n'));
  const ttl = ms(s.fleet.svidTtl);
  if (ttl < 2_000) throw new ScenarioError(`${file}: fleet.svidTtl: must be at least 2s so rotation can be observed`);
  return {
    name: s.name,
    description: s.description,
    trustDomain: s.fleet.trustDomain,
    svidTtlMs: ttl,
    envoyRestartMs: ms(s.fleet.envoyRestart),
    workloads,
    faults: s.faults.map((f) => ({ kind: f.kind, target: f.target, atMs: ms(f.at) })),
    expectedIncidents: s.expect.incidents,
    minDurationMs: ms(s.run.minDuration),
    timeoutMs: ms(s.run.timeout),
  };
}
