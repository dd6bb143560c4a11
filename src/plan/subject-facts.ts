import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { Incident } from '../knowledge/model/incident.js';
import type { Observation } from '../knowledge/model/observation.js';
import type { Platform, Workload } from '../knowledge/model/workload.js';
import { agentNodeOf, agentSubject, configMapOf, subjectKindOf, trustDomainOf, trustDomainSubject } from '../knowledge/subject-ref.js';

/**
 * What plan knows about an incident's subject, gathered once per pass from knowledge so that
 * matching, preconditions, guardrails and pacing are pure functions of it.
 */
export interface SubjectFacts {
  readonly subject: string;
  readonly kind: 'workload' | 'agent' | 'trust-domain' | 'configmap' | 'secret' | 'other';
  readonly workload: Workload | null;
  readonly trustDomain: string | null;
  readonly spiffeId: string | null;
  /** Kubernetes namespace or Cloud Run project/region. */
  readonly namespace: string | null;
  readonly platform: Platform | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly node: string | null;
  /** Blast-radius group: "<ns>/<Kind>/<name>" of the owning controller, or the Cloud Run service. */
  readonly service: string | null;
  /** From the SPIRE server's agent record; null when unknown. */
  readonly agentCanReattest: boolean | null;
  /** No open agent_disconnected incident on the node and the agent's debug API answers; null when no agent is known. */
  readonly agentHealthy: boolean | null;
  /** Whether the SPIRE server of the subject's trust domain answered its last read (null: unknown). */
  readonly serverHealthy: boolean | null;
  /** The affected certificate: when it expires and how long it lives (null when not known). */
  readonly expiresAt: number | null;
  readonly lifetimeMs: number | null;
  /** The serial the subject's Envoy serves now (workloads only). */
  readonly leafSerial: string | null;
}

function kindOf(subject: string, workload: Workload | null): SubjectFacts['kind'] {
  if (workload !== null) return 'workload';
  const kind = subjectKindOf(subject);
  return kind === 'agent' || kind === 'trust-domain' || kind === 'configmap' || kind === 'secret' ? kind : 'other';
}

/** The blast-radius group of a workload. */
export function serviceOf(w: Workload): string | null {
  if (w.platform === 'cloudrun') return w.id;
  return w.owner === undefined ? null : `${w.location}/${w.owner.kind}/${w.owner.name}`;
}

/** Reads the facts of `incident.subject` from knowledge. `openIncidents` are used for agent health. */
export async function gatherSubjectFacts(store: KnowledgeStore, incident: Incident): Promise<SubjectFacts> {
  const subject = incident.subject;
  const workload = await store.getWorkload(subject);
  const kind = kindOf(subject, workload);
  const node = workload?.node ?? (kind === 'agent' ? agentNodeOf(subject) : null);
  let agentCanReattest: boolean | null = null;
  let agentHealthy: boolean | null = null;
  let agentSvid: { expiresAt: number } | null = null;
  if (node !== null) {
    const server = await store.latestObservation(agentSubject(node), 'spire.server.agent');
    if (server?.data.kind === 'spire.server.agent') agentCanReattest = !server.data.banned && server.data.canReattest;
    const debug = await store.latestObservation(agentSubject(node), 'spire.agent.debug');
    if (debug !== null) {
      const disconnected = (await store.findOpenIncident('agent_disconnected', agentSubject(node))) !== null;
      agentHealthy = debug.data.kind === 'spire.agent' && !disconnected;
      if (debug.data.kind === 'spire.agent' && debug.data.agentSvidExpiresAtMs !== null)
        agentSvid = { expiresAt: debug.data.agentSvidExpiresAtMs };
    }
  }
  const expiry =
    workload !== null
      ? leafExpiry(await store.latestObservation(subject, 'envoy.certs'))
      : kind === 'agent' && agentSvid !== null
        ? { expiresAt: agentSvid.expiresAt, lifetimeMs: null, serial: null }
        : null;
  const fromEvidence = incident.evidence.find((o) => o.data.kind === 'spire.bundle');
  const trustDomain =
    workload?.trustDomain ??
    (kind === 'trust-domain' ? trustDomainOf(subject) : null) ??
    (fromEvidence?.data.kind === 'spire.bundle' ? fromEvidence.data.trustDomain : null);
  const server = trustDomain === null ? null : await store.latestObservation(trustDomainSubject(trustDomain), 'spire.server.bundle');
  return {
    subject,
    kind,
    workload,
    trustDomain,
    serverHealthy: server === null ? null : server.data.kind === 'spire.bundle',
    spiffeId: workload?.spiffeId ?? null,
    namespace: workload?.location ?? (kind === 'configmap' ? (configMapOf(subject)?.namespace ?? null) : null),
    platform: workload?.platform ?? (kind === 'agent' || kind === 'configmap' ? 'kubernetes' : kind === 'secret' ? 'cloudrun' : null),
    labels: workload?.labels ?? {},
    node,
    service: workload === null ? null : serviceOf(workload),
    agentCanReattest,
    agentHealthy,
    expiresAt: expiry?.expiresAt ?? null,
    lifetimeMs: expiry?.lifetimeMs ?? null,
    leafSerial: expiry?.serial ?? null,
  };
}

function leafExpiry(o: Observation | null): { expiresAt: number; lifetimeMs: number; serial: string } | null {
  if (o?.data.kind !== 'envoy.certs') return null;
  const leaf = o.data.chain[0];
  return leaf === undefined
    ? null
    : { expiresAt: leaf.expiresAtMs, lifetimeMs: leaf.expiresAtMs - leaf.validFromMs, serial: leaf.serialNumber };
}
