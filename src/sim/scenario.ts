import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../knowledge/duration.js';
import { INCIDENT_TYPES, type IncidentType } from '../knowledge/model/incident.js';
import { ACTION_NAMES, type ActionName } from '../knowledge/model/action-run.js';
import { OBSERVATION_SOURCES, type ObservationSource } from '../knowledge/model/observation.js';
import { FLEET_SUBJECT, parseSubject } from '../knowledge/subject-ref.js';
import { formatYamlProblem, validateYaml } from '../knowledge/yaml-validation.js';
import type { Registrations } from './world-model.js';
import { CONFIGMAP_TARGET, SECRET_TARGET, SIM_FAULT_KINDS, SIM_FAULTS, type SimFaultKind } from './world-faults.js';

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
  kind: z.enum(SIM_FAULT_KINDS),
  /** Workload id "<location>/<name>-<index>", node "node-<i>", "configmap" or "secret", as the kind requires. */
  target: z.string().min(1),
  at: duration,
});

/** An observation a scenario expects the monitor to record (a fault whose healing comes later is still seen). */
const expectedObservation = z.strictObject({
  subject: z.string().min(1),
  /** Observation source, one of OBSERVATION_SOURCES, e.g. spire.agent.debug, envoy.stats, k8s.bundle. */
  source: z.enum(OBSERVATION_SOURCES),
  /** Regular expression matched against the audited description and state of the observation. */
  matches: z.string().refine(
    (r) => {
      try {
        new RegExp(r);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'expected a valid regular expression' },
  ),
});

const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().default(''),
  fleet: z.strictObject({
    trustDomain: z
      .string()
      .regex(/^[a-z0-9.-]+$/, 'expected a trust domain name like example.org')
      .default('example.org'),
    svidTtl: duration.default('10s'),
    envoyRestart: duration.default('500ms'),
    /** Kubernetes nodes, each with a SPIRE agent; workloads are spread over them round-robin. */
    nodes: z.int().min(1).max(1_000).default(2),
    /** False: agent pods do not announce their admin socket, so the daemon has no Debug (nor Delegated Identity) reading of any agent. */
    agentAdminSocket: z.boolean().default(true),
    /**
     * pod: one registration entry per pod (namespace, service account, pod name), one SVID per workload;
     * serviceAccount: one entry per namespace and service account, its SVID shared by that account's pods on a node.
     */
    registrations: z.enum(['pod', 'serviceAccount']).default('pod'),
    workloads: z.array(workloadGroup).min(1),
  }),
  faults: z.array(fault).default([]),
  /** Playbook files for this run, relative to the scenario file (default: the shipped playbooks). */
  playbooks: z.array(z.string().min(1)).default([]),
  /** Analysis thresholds to change for this run. */
  analyze: z.strictObject({ stormShare: z.number().min(0).max(1).optional(), stormMinWorkloads: z.int().min(1).optional() }).prefault({}),
  expect: z
    .strictObject({
      /** At most this many remediation actions (ladder steps, shadow included) in the whole run. */
      maxActions: z.int().min(0).optional(),
      /** At least this many remediation actions (e.g. a budget that must let some through before it holds). */
      minActions: z.int().min(0).optional(),
      /**
       * `firstAction`: the first remediation action of that incident (what the diagnosis calls for).
       * `count`: how many times it occurs (default 1). `escalated`: true, one of them was escalated to a
       * person (a hold past its certificate's expiry: before that expiry); false, none was.
       */
      incidents: z
        .array(
          z.strictObject({
            type: z.enum(INCIDENT_TYPES),
            subject: z.string(),
            firstAction: z.enum(ACTION_NAMES).optional(),
            count: z.int().min(1).default(1),
            escalated: z.boolean().optional(),
          }),
        )
        .default([]),
      observations: z.array(expectedObservation).default([]),
      /** False for faults whose remediation is not built yet: the run then passes on detection alone. */
      healed: z.boolean().default(true),
    })
    .prefault({}),
  run: z
    .strictObject({
      /** Keep running at least this long even when everything is healed (lets healthy rotations happen). */
      minDuration: duration.default('0s'),
      timeout: duration.default('60s'),
    })
    .prefault({}),
});

/** One simulated workload, as generated from a scenario group. */
export interface ScenarioWorkload {
  readonly id: string;
  readonly spiffeId: string;
  readonly platform: 'kubernetes' | 'cloudrun';
  readonly location: string;
  /** The node whose SPIRE agent serves it ("node-<i>"). */
  readonly node: string;
}

/** One fault of a scenario. */
export interface ScenarioFault {
  readonly kind: SimFaultKind;
  readonly target: string;
  readonly atMs: number;
}

/** One expected observation. */
export interface ExpectedObservation {
  readonly subject: string;
  readonly source: ObservationSource;
  readonly matches: string;
}

/** A validated scenario with durations in milliseconds and workloads expanded. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly trustDomain: string;
  readonly svidTtlMs: number;
  readonly envoyRestartMs: number;
  readonly workloads: readonly ScenarioWorkload[];
  readonly nodes: readonly string[];
  /** Whether agent pods announce their admin socket (spire-healer.io/agent-admin-endpoint). */
  readonly agentAdminSocket: boolean;
  /** How workloads are registered at the SPIRE server (see SimWorldOptions.registrations). */
  readonly registrations: Registrations;
  readonly faults: readonly ScenarioFault[];
  readonly expectedIncidents: readonly {
    readonly type: IncidentType;
    readonly subject: string;
    readonly firstAction?: ActionName | undefined;
    /** How many incidents of this (type, subject) the run opens. */
    readonly count: number;
    /** Whether one of them is escalated to a person (undefined: not checked). */
    readonly escalated?: boolean | undefined;
  }[];
  readonly expectedObservations: readonly ExpectedObservation[];
  /** Whether the run must end with every fault healed. */
  readonly expectHealed: boolean;
  /** At most this many remediation actions, or null. */
  readonly expectedMaxActions: number | null;
  readonly expectedMinActions: number | null;
  /** Absolute paths of the run's playbook files (empty: the shipped ones). */
  readonly playbooks: readonly string[];
  readonly analyze: { readonly stormShare?: number; readonly stormMinWorkloads?: number };
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
  const nodes = Array.from({ length: s.fleet.nodes }, (_, i) => `node-${i}`);
  const problems: string[] = [];
  s.fleet.workloads.forEach((g, i) => {
    if (g.platform === 'cloudrun' && !/^[a-z0-9-]+\/[a-z0-9-]+$/.test(g.location))
      problems.push(`${file}: fleet.workloads.${i}.location: a cloudrun group's location is "<project>/<region>", got "${g.location}"`);
    if (g.platform === 'kubernetes' && g.location.includes('/'))
      problems.push(`${file}: fleet.workloads.${i}.location: a kubernetes group's location is a namespace, got "${g.location}"`);
  });
  if (problems.length > 0) throw new ScenarioError(problems.join('\n'));
  const workloads: ScenarioWorkload[] = s.fleet.workloads
    .flatMap((g) =>
      Array.from({ length: g.count }, (_, i) => ({
        id: `${g.location}/${g.name}-${i}`,
        spiffeId:
          g.platform === 'kubernetes'
            ? `spiffe://${s.fleet.trustDomain}/ns/${g.location}/sa/${g.name}`
            : `spiffe://${s.fleet.trustDomain}/run/${g.location}/${g.name}`,
        platform: g.platform,
        location: g.location,
      })),
    )
    .map((w, i) => ({ ...w, node: nodes[i % nodes.length] ?? 'node-0' }));
  const ids = new Set(workloads.map((w) => w.id));
  if (ids.size !== workloads.length) throw new ScenarioError(`${file}: fleet.workloads: two groups generate the same workload ids`);
  const cloudRun = new Set(workloads.filter((w) => w.platform === 'cloudrun').map((w) => w.id));
  s.faults.forEach((f, i) => {
    const wants = SIM_FAULTS[f.kind].target;
    const fits =
      wants === 'node'
        ? nodes.includes(f.target)
        : wants === 'workload_or_configmap'
          ? f.target === CONFIGMAP_TARGET || (f.target === SECRET_TARGET && cloudRun.size > 0) || ids.has(f.target)
          : wants === 'cloudrun_workload'
            ? cloudRun.has(f.target)
            : ids.has(f.target);
    if (fits) return;
    const hint =
      wants === 'node'
        ? `nodes are ${nodes.slice(0, 3).join(', ')}${nodes.length > 3 ? ', …' : ''}`
        : wants === 'cloudrun_workload'
          ? `cloudrun workloads are ${[...cloudRun].slice(0, 3).join(', ') || 'none'}`
          : `workload ids look like ${workloads[0]?.id ?? '?'}${wants === 'workload_or_configmap' ? `, "${CONFIGMAP_TARGET}", or "${SECRET_TARGET}" with cloudrun workloads` : ''}`;
    problems.push(`${file}: faults.${i}.target: ${f.kind} needs a ${wants.replace(/_/g, ' ')}; "${f.target}" is not one (${hint})`);
  });
  if (
    s.faults.filter((f) => f.kind === 'ca_rotation_not_propagated').length > 0 &&
    new Set(s.faults.filter((f) => f.kind === 'ca_rotation_not_propagated').map((f) => f.at)).size > 1
  ) {
    problems.push(`${file}: faults: every ca_rotation_not_propagated fault must share one "at" (the simulated server rotates its CA once)`);
  }
  s.expect.incidents.forEach((e, i) => {
    const ref = parseSubject(e.subject);
    const known =
      ids.has(e.subject) ||
      e.subject === FLEET_SUBJECT ||
      (ref?.kind === 'agent' && nodes.includes(ref.node)) ||
      (ref?.kind === 'trust-domain' && ref.trustDomain === s.fleet.trustDomain) ||
      ref?.kind === 'configmap' ||
      (cloudRun.size > 0 && ref?.kind === 'secret');
    if (!known)
      problems.push(
        `${file}: expect.incidents.${i}.subject: "${e.subject}" is not a workload, "agent:<node>", "trust-domain:${s.fleet.trustDomain}", "configmap:<ns>/<name>" or (with cloudrun workloads) "secret:projects/<p>/secrets/<s>" of the fleet`,
      );
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
    nodes,
    agentAdminSocket: s.fleet.agentAdminSocket,
    registrations: s.fleet.registrations,
    faults: s.faults.map((f) => ({ kind: f.kind, target: f.target, atMs: ms(f.at) })),
    expectedIncidents: s.expect.incidents,
    expectedObservations: s.expect.observations,
    expectHealed: s.expect.healed,
    expectedMaxActions: s.expect.maxActions ?? null,
    expectedMinActions: s.expect.minActions ?? null,
    playbooks: s.playbooks.map((p) => (isAbsolute(p) ? p : join(dirname(file), p))),
    analyze: {
      ...(s.analyze.stormShare === undefined ? {} : { stormShare: s.analyze.stormShare }),
      ...(s.analyze.stormMinWorkloads === undefined ? {} : { stormMinWorkloads: s.analyze.stormMinWorkloads }),
    },
    minDurationMs: ms(s.run.minDuration),
    timeoutMs: ms(s.run.timeout),
  };
}
