import type { Incident } from '../knowledge/model/incident.js';
import type { Observation } from '../knowledge/model/observation.js';
import { rotationStatus, type RotationPolicy } from '../knowledge/svid-rotation.js';
import type { PostCondition } from './playbooks/playbook.js';

/** The latest observations of an incident's subject a post-condition may look at (gathered once per pass). */
export interface VerifyObservations {
  readonly envoyCerts: Observation | null;
  readonly agentDebug: Observation | null;
  readonly serverBundle: Observation | null;
  /** The subject's own CA set: ConfigMap, agent bundle or Envoy certs. */
  readonly subjectBundle: Observation | null;
  readonly cloudRun: Observation | null;
}

/** What a post-condition is checked against: the observations, and the step they must be newer than. */
export interface VerifyInput extends VerifyObservations {
  readonly incident: Incident;
  readonly now: number;
  /** When the step's job finished: only observations after it count. */
  readonly since: number;
  /** The leaf serial the subject's Envoy served when the step started (envoy_new_serial). */
  readonly baselineSerial: string | null;
  readonly rotation: RotationPolicy;
}

/** Verdict of a post-condition check. */
export interface VerifyResult {
  readonly holds: boolean;
  readonly detail: string;
}

const fresh = (o: Observation | null, since: number): o is Observation => o !== null && o.observedAt > since;

function caSerials(o: Observation): string[] | null {
  const d = o.data;
  if (d.kind === 'spire.bundle') return d.authorities.map((a) => a.serialNumber).sort();
  if (d.kind === 'k8s.bundle' || d.kind === 'spire.agent.bundle' || d.kind === 'cloudrun.bundle')
    return d.certificates.map((c) => c.serialNumber).sort();
  if (d.kind === 'envoy.certs') return d.caCerts.map((c) => c.serialNumber).sort();
  return null;
}

/**
 * Pure: whether the step's typed post-condition holds on observations newer than its job.
 * An observation from before the job never counts: it says nothing about the effect.
 */
export function checkPostCondition(expect: PostCondition, v: VerifyInput): VerifyResult {
  switch (expect) {
    case 'incident_resolved': {
      if (v.incident.status === 'resolved') return { holds: true, detail: 'the incident resolved' };
      if (v.incident.recoveringSince !== null && v.incident.recoveringSince !== undefined && v.incident.recoveringSince > v.since) {
        return { holds: true, detail: 'fresh evidence shows the incident recovering' };
      }
      return { holds: false, detail: 'the incident is still open on fresh evidence' };
    }
    case 'envoy_new_serial': {
      if (!fresh(v.envoyCerts, v.since) || v.envoyCerts.data.kind !== 'envoy.certs')
        return { holds: false, detail: 'no Envoy /certs read since the job finished' };
      const leaf = v.envoyCerts.data.chain[0];
      if (leaf === undefined) return { holds: false, detail: 'Envoy still serves no certificate' };
      if (v.baselineSerial !== null && leaf.serialNumber === v.baselineSerial)
        return { holds: false, detail: `Envoy still serves serial ${leaf.serialNumber}` };
      if (rotationStatus(leaf, v.now, v.rotation).overdue)
        return { holds: false, detail: `Envoy serves serial ${leaf.serialNumber}, which is also past its rotation point` };
      return {
        holds: true,
        detail: `Envoy now serves serial ${leaf.serialNumber}${v.baselineSerial === null ? '' : ` (was ${v.baselineSerial})`}`,
      };
    }
    case 'agent_sync_fresh': {
      if (!fresh(v.agentDebug, v.since) || v.agentDebug.data.kind !== 'spire.agent')
        return { holds: false, detail: 'no agent debug read since the job finished' };
      const at = v.agentDebug.data.lastSyncSuccessMs;
      return at > v.since
        ? { holds: true, detail: `the agent synced with the server at ${new Date(at).toISOString()}` }
        : { holds: false, detail: `the agent's last sync (${new Date(at).toISOString()}) is older than the step` };
    }
    case 'bundle_fingerprints_equal': {
      if (v.serverBundle === null || v.subjectBundle === null || !fresh(v.subjectBundle, v.since))
        return { holds: false, detail: 'no fresh bundle of the subject and the server to compare' };
      const want = caSerials(v.serverBundle);
      const have = caSerials(v.subjectBundle);
      if (want === null || have === null) return { holds: false, detail: 'a bundle read failed' };
      return want.join(',') === have.join(',')
        ? { holds: true, detail: `the subject holds the server's CA serials ${want.join(', ')}` }
        : { holds: false, detail: `the subject holds CA serials ${have.join(', ') || '(none)'}, the server ${want.join(', ')}` };
    }
    case 'cloudrun_ready': {
      if (!fresh(v.cloudRun, v.since) || v.cloudRun.data.kind !== 'cloudrun.service')
        return { holds: false, detail: 'no Cloud Run read since the job finished' };
      return v.cloudRun.data.ready
        ? { holds: true, detail: `revision ${v.cloudRun.data.latestReadyRevision} is ready` }
        : { holds: false, detail: v.cloudRun.data.notReady.join('; ') };
    }
  }
}
