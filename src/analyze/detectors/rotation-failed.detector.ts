import type { Incident } from '../../knowledge/model/incident.js';
import type { Observation, ServedCertificate } from '../../knowledge/model/observation.js';
import type { Workload } from '../../knowledge/model/workload.js';
import { agentSubject } from '../../knowledge/subject-ref.js';
import { formatDuration, isoTime, rotationStatus } from '../../knowledge/svid-rotation.js';
import type { AnalysisInput } from '../analysis-input.js';
import { isFresh, latest, latestEvidenceAt, type Detector } from '../detector.js';
import type { Finding } from '../finding.js';

/**
 * rotation_failed: an SVID past its rotation point (half its lifetime plus grace) with no new
 * serial, seen at Envoy (GET /certs) or at the agent (Delegated Identity, confirmed: see
 * `confirmedOverdue`). When the agent itself
 * still holds the stale SVID the explanation says so: restarting Envoy cannot fix that. Stale
 * observations never raise a finding: evidence older than `staleAfterMs` says nothing about now.
 * Causes: `agent_not_rotating` (the agent's Delegated Identity SVID is overdue), `envoy_sds_stuck`
 * (only Envoy's is: the agent holds a newer one, or is not observed), `envoy_update_rejected`
 * (no overdue SVID yet, but Envoy keeps rejecting the SDS updates).
 */
export const rotationFailedDetector: Detector = {
  type: 'rotation_failed',
  detect(input) {
    const findings: Finding[] = [];
    for (const w of input.workloads) {
      const envoyObs = latest(input, w.id, 'envoy.certs');
      const envoy = overdueLeaf(envoyObs, input);
      const view = agentView(w.id, envoyObs, input);
      const agent = confirmedOverdue(view, envoy, input);
      const stale = agent ?? envoy;
      if (
        stale !== null &&
        awaitingAgent(w, rotationStatus(stale.leaf, stale.obs.observedAt, input.config.rotation).rotateByMs, view, input)
      )
        continue;
      if (stale === null) {
        const rejected = rejectedRotations(latest(input, w.id, 'envoy.stats'), input);
        if (rejected !== null) {
          findings.push({
            type: 'rotation_failed',
            subject: w.id,
            observedAt: rejected.obs.observedAt,
            evidence: [rejected.obs],
            cause: 'envoy_update_rejected',
            explanation: `Envoy for ${w.id} ${rejected.words}`,
          });
        }
        continue;
      }
      const evidence = [envoy?.obs, agent?.obs].filter((o): o is Observation => o !== undefined);
      findings.push({
        type: 'rotation_failed',
        subject: w.id,
        observedAt: Math.max(...evidence.map((o) => o.observedAt)),
        evidence,
        // The agent holding the stale SVID is the cause whatever Envoy serves; otherwise only Envoy is behind.
        cause: agent !== null ? 'agent_not_rotating' : 'envoy_sds_stuck',
        explanation: agent !== null ? agentSentence(w, agent, envoy !== null, input) : envoySentence(w, stale, input),
      });
    }
    return findings;
  },
  recovered: recoveryAtEnvoy,
};

/** More than two failed SDS updates of the SVID (rejected, key rotation failed) that rose within the mTLS window. */
function rejectedRotations(o: Observation | undefined, input: AnalysisInput): { obs: Observation; words: string } | null {
  if (!isFresh(o, input) || o.data.kind !== 'envoy.stats') return null;
  const failed = o.data.sds.reduce((n, s) => n + s.updateRejected + s.keyRotationFailed, 0);
  if (failed <= 2 || input.now - (o.stateSince ?? o.observedAt) > input.config.mtlsWindowMs) return null;
  const secrets = o.data.sds
    .filter((s) => s.updateRejected + s.keyRotationFailed > 0)
    .map((s) => `${s.secret} (rejected ${s.updateRejected}, key rotation failed ${s.keyRotationFailed})`);
  return {
    obs: o,
    words: `rejected ${failed} SVID updates over SDS since it started: ${secrets.join('; ')}. Each rotation the agent pushes fails to apply, so the served SVID will age out.`,
  };
}

/**
 * The agent's view of the workload's SVID (Delegated Identity): its last reading, stamped when it was
 * received. Null when there is none, when it is a failure or lists no SVID, or when the Envoy serves a
 * newer SVID than the stream reports: Envoy gets its SVIDs from that agent, so the agent rotated and
 * the stream is behind, not the agent.
 */
function agentView(workloadId: string, envoyObs: Observation | undefined, input: AnalysisInput): Overdue | null {
  const o = latest(input, workloadId, 'spire.delegated.svid');
  if (o?.data.kind !== 'spire.svid' || o.data.svid === null) return null;
  const leaf = o.data.svid;
  const served = envoyObs?.data.kind === 'envoy.certs' && isFresh(envoyObs, input) ? envoyObs.data.chain[0] : undefined;
  if (served !== undefined && served.serialNumber !== leaf.serialNumber && served.validFromMs > leaf.validFromMs) return null;
  return { obs: o, leaf };
}

/**
 * Evidence is only as fresh as what was received: the agent's SVID counts as overdue only when a
 * reading received after its rotation point still lists it, and that reading is confirmed: it is the
 * first message of a subscription opened after the rotation point (the agent answered a request made
 * then; a later message on a long-running stream may have waited in a receiver that fell behind), or
 * the Envoy serves the same overdue serial.
 */
function confirmedOverdue(view: Overdue | null, envoy: Overdue | null, input: AnalysisInput): Overdue | null {
  if (view === null || !isFresh(view.obs, input)) return null;
  const st = rotationStatus(view.leaf, view.obs.observedAt, input.config.rotation);
  if (!st.overdue) return null;
  const subscribedAt = view.obs.data.kind === 'spire.svid' ? view.obs.data.subscribedAtMs : undefined;
  const confirmed = (subscribedAt !== undefined && subscribedAt > st.rotateByMs) || envoy?.leaf.serialNumber === view.leaf.serialNumber;
  return confirmed ? view : null;
}

/**
 * Correlate before paging: when the workload's agent is monitored, a rotation failure waits until
 * the agent has been read after the rotation deadline, so a broken agent (which explains the
 * failure) is known first and the symptom folds into it instead of opening on its own. Likewise,
 * while the agent's view of the workload's SVID (Delegated Identity) is monitored but nothing was
 * received from it since the deadline, it waits for the monitor to confirm (it re-subscribes a
 * silent stream past the rotation point): only then does the diagnosis know whether the agent rotated
 * (Envoy's SDS stream is stuck) or not (the agent is the cause). Silence is not evidence, and the
 * wait is bounded: `staleAfterMs` past the deadline, the failure opens on Envoy's evidence alone.
 */
function awaitingAgent(w: Workload, deadline: number, view: Overdue | null, input: AnalysisInput): boolean {
  if (view !== null && view.obs.observedAt <= deadline && input.now <= deadline + input.config.staleAfterMs) return true;
  if (w.node === undefined) return false;
  const agent = latest(input, agentSubject(w.node), 'spire.agent.debug');
  return agent !== undefined && agent.observedAt < deadline;
}

interface Overdue {
  readonly obs: Observation;
  readonly leaf: ServedCertificate;
}

function overdueLeaf(o: Observation | undefined, input: AnalysisInput): Overdue | null {
  if (!isFresh(o, input)) return null;
  const leaf = o.data.kind === 'envoy.certs' ? o.data.chain[0] : o.data.kind === 'spire.svid' ? o.data.svid : undefined;
  if (leaf === undefined || leaf === null) return null;
  return rotationStatus(leaf, o.observedAt, input.config.rotation).overdue ? { obs: o, leaf } : null;
}

function lifeSentence(leaf: ServedCertificate, at: number, input: AnalysisInput): string {
  const st = rotationStatus(leaf, at, input.config.rotation);
  return (
    `SVID serial ${leaf.serialNumber}, issued ${isoTime(leaf.validFromMs)} with a ${formatDuration(st.ttlMs)} TTL. It should have rotated by ` +
    `${isoTime(st.rotateByMs)} (${Math.round(input.config.rotation.rotateAtFraction * 100)}% of its lifetime plus ${formatDuration(input.config.rotation.graceMs)} grace)`
  );
}

function envoySentence(w: Workload, o: Overdue, input: AnalysisInput): string {
  const state = o.obs.observedAt >= o.leaf.expiresAtMs ? 'has EXPIRED' : `expires at ${isoTime(o.leaf.expiresAtMs)}`;
  return (
    `Envoy for ${w.id} (${w.spiffeId}) still serves ${lifeSentence(o.leaf, o.obs.observedAt, input)}, ` +
    `but the Envoy at ${w.envoyAdminUrl} still served it at ${isoTime(o.obs.observedAt)}; the certificate ${state}. ` +
    `Envoy's SDS stream to the SPIRE agent is likely stuck.`
  );
}

function agentSentence(w: Workload, o: Overdue, envoyToo: boolean, input: AnalysisInput): string {
  const node = o.obs.data.kind === 'spire.svid' ? o.obs.data.node : (w.node ?? '?');
  const sub = o.obs.data.kind === 'spire.svid' ? o.obs.data.subscribedAtMs : undefined;
  const state = o.obs.observedAt >= o.leaf.expiresAtMs ? 'has EXPIRED' : `expires at ${isoTime(o.leaf.expiresAtMs)}`;
  return (
    `The SPIRE agent on ${node} still holds the SVID of ${w.id} (${w.spiffeId}): ${lifeSentence(o.leaf, o.obs.observedAt, input)}. ` +
    `The agent reported no newer SVID up to ${isoTime(o.obs.observedAt)}` +
    (sub === undefined ? '' : ` (its answer to a subscription opened at ${isoTime(sub)}, after the rotation point)`) +
    `; the certificate ${state}. ` +
    (envoyToo ? 'Envoy serves the same stale SVID. ' : '') +
    'The agent is not rotating it, so restarting Envoy cannot help: the agent (its registration entry or its cache) is the cause.'
  );
}

/** Over when Envoy serves an SVID within its rotation window, newer than the incident's evidence, and the agent is not overdue either. */
function recoveryAtEnvoy(incident: Incident, input: AnalysisInput): string | null {
  const workload = input.workloads.find((x) => x.id === incident.subject);
  if (workload === undefined) return `${incident.subject} is no longer in the inventory`;
  const obs = latest(input, incident.subject, 'envoy.certs');
  if (!isFresh(obs, input) || obs.data.kind !== 'envoy.certs') return null;
  if (obs.observedAt <= latestEvidenceAt(incident)) return null;
  const leaf = obs.data.chain[0];
  if (leaf === undefined || rotationStatus(leaf, obs.observedAt, input.config.rotation).overdue) return null;
  if (confirmedOverdue(agentView(incident.subject, obs, input), null, input) !== null) return null;
  const before = incident.evidence.find((o) => o.data.kind === 'envoy.certs')?.data;
  const oldSerial = before?.kind === 'envoy.certs' ? before.chain[0]?.serialNumber : undefined;
  return (
    `Envoy for ${incident.subject} now serves SVID serial ${leaf.serialNumber}` +
    (oldSerial !== undefined && oldSerial !== leaf.serialNumber ? ` (was ${oldSerial})` : '') +
    `, within its rotation window (observed ${isoTime(obs.observedAt)}).`
  );
}
