import type { Clock } from '../knowledge/clock.js';
import type { BundleCertificate, Observation } from '../knowledge/model/observation.js';
import { nodeOfAgentRecord } from '../knowledge/spire-agent-node.js';
import { agentSubject, trustDomainSubject } from '../knowledge/subject-ref.js';
import type {
  AgentDebugPort,
  DelegatedIdentityPort,
  SpireCertificate,
  SpireHealthPort,
  SpireServerPort,
  X509BundlesUpdate,
} from '../ports/spire.port.js';
import { runPaced } from '../support/paced-pool.js';
import { probeError, recordObservation, type ObservationSink } from './record-observation.js';
import type { SweepResult } from './sweep-envoys.js';

/** One SPIRE agent to poll: its node and its admin socket (Debug, Delegated Identity). */
export interface SpireAgentTarget {
  readonly node: string;
  readonly adminEndpoint: string;
  /** Base URL of its /live /ready listener, when known. */
  readonly healthUrl?: string;
}

/** What the SPIRE poll reads. `server` null when no server endpoint is configured. */
export interface SpirePollDeps extends ObservationSink {
  readonly server: { readonly port: SpireServerPort; readonly endpoint: string } | null;
  readonly debug: AgentDebugPort;
  /** When set, each agent's distributed bundle is read too (first SubscribeToX509Bundles message). */
  readonly bundles?: DelegatedIdentityPort;
  /** When set, agents with a health URL are asked /ready. */
  readonly health?: SpireHealthPort;
  readonly clock: Clock;
  readonly trustDomain: string;
  readonly concurrency: number;
  readonly spreadOverMs?: number;
}

/**
 * One pass over SPIRE's polled APIs: the server's bundle and X.509 authority slots (one
 * `spire.bundle` observation) and every agent's Debug GetInfo (one `spire.agent` observation per
 * node). Each failure is a `probe.error` observation naming the endpoint and RPC.
 */
export async function pollSpire(deps: SpirePollDeps, agents: readonly SpireAgentTarget[], signal?: AbortSignal): Promise<SweepResult> {
  let failed = 0;
  let changed = 0;
  const record = async (obs: Observation): Promise<void> => {
    if (obs.data.kind === 'probe.error') failed++;
    if (await recordObservation(deps, obs)) changed++;
  };
  const server = deps.server;
  if (server !== null) {
    await record(await readBundle(deps, server.port, server.endpoint, signal));
    for (const o of await readServerAgents(deps, server.port, server.endpoint, signal)) await record(o);
  }
  await runPaced(agents.length, { concurrency: deps.concurrency, spreadOverMs: deps.spreadOverMs, signal }, async (i) => {
    const a = agents[i];
    if (a === undefined) return;
    await record(await readAgent(deps, a, signal));
    if (deps.bundles !== undefined) await record(await readAgentBundle(deps, deps.bundles, a));
    if (deps.health !== undefined && a.healthUrl !== undefined)
      await record(await readAgentHealth(deps, deps.health, a, a.healthUrl, signal));
  });
  return { probed: agents.length + (server === null ? 0 : 1), failed, changed };
}

async function readBundle(deps: SpirePollDeps, port: SpireServerPort, endpoint: string, signal?: AbortSignal): Promise<Observation> {
  const subject = trustDomainSubject(deps.trustDomain);
  try {
    const [bundle, slots] = await Promise.all([port.getBundle(signal), port.getX509AuthorityState(signal)]);
    return {
      subject,
      source: 'spire.server.bundle',
      observedAt: deps.clock.now(),
      data: {
        kind: 'spire.bundle',
        trustDomain: bundle.trustDomain,
        sequenceNumber: bundle.sequenceNumber,
        authorities: bundle.x509Authorities.map((a) => bundleCertificate(a.certificate)),
        active: slots.active?.authorityId ?? null,
        prepared: slots.prepared?.authorityId ?? null,
        old: slots.old?.authorityId ?? null,
      },
    };
  } catch (e) {
    return probeError(subject, 'spire.server.bundle', endpoint, e, deps.clock.now());
  }
}

/** ListAgents: one observation per attested agent (banned, can re-attest, SVID expiry), or one probe error. */
async function readServerAgents(
  deps: SpirePollDeps,
  port: SpireServerPort,
  endpoint: string,
  signal?: AbortSignal,
): Promise<Observation[]> {
  try {
    const agents = await port.listAgents(undefined, signal);
    return agents.map((a) => ({
      subject: agentSubject(nodeOfAgentRecord(a)),
      source: 'spire.server.agent',
      observedAt: deps.clock.now(),
      data: {
        kind: 'spire.server.agent',
        node: nodeOfAgentRecord(a),
        agentId: a.spiffeId,
        banned: a.banned,
        canReattest: a.canReattest,
        svidExpiresAtMs: a.svidExpiresAtMs,
      },
    }));
  } catch (e) {
    return [probeError(trustDomainSubject(deps.trustDomain), 'spire.server.agent', endpoint, e, deps.clock.now())];
  }
}

async function readAgent(deps: SpirePollDeps, a: SpireAgentTarget, signal?: AbortSignal): Promise<Observation> {
  const subject = agentSubject(a.node);
  try {
    const info = await deps.debug.getInfo(a.adminEndpoint, signal);
    return {
      subject,
      source: 'spire.agent.debug',
      observedAt: deps.clock.now(),
      data: {
        kind: 'spire.agent',
        node: a.node,
        agentId: info.svidChain[0]?.spiffeId ?? '',
        lastSyncSuccessMs: info.lastSyncSuccessMs,
        agentSvidExpiresAtMs: info.agentSvidExpiresAtMs,
        cachedX509Svids: info.cachedX509SvidsCount,
      },
    };
  } catch (e) {
    return probeError(subject, 'spire.agent.debug', a.adminEndpoint, e, deps.clock.now());
  }
}

/** The agent's current bundle for the trust domain: the first full-state SubscribeToX509Bundles message, then the stream is closed. */
async function readAgentBundle(
  deps: SpirePollDeps,
  port: DelegatedIdentityPort,
  a: SpireAgentTarget,
  timeoutMs = 5_000,
): Promise<Observation> {
  const subject = agentSubject(a.node);
  const td = `spiffe://${deps.trustDomain}`;
  try {
    const update = await new Promise<X509BundlesUpdate>((resolve, reject) => {
      let done = false;
      const finish = (f: () => void): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        queueMicrotask(() => {
          watch.close();
        });
        f();
      };
      const timer = setTimeout(() => {
        finish(() => {
          reject(new Error(`no bundle within ${timeoutMs} ms`));
        });
      }, timeoutMs);
      const watch = port.watchX509Bundles(a.adminEndpoint, {
        onUpdate: (u) => {
          finish(() => {
            resolve(u);
          });
        },
        onError: (f) => {
          finish(() => {
            reject(new Error(f.message));
          });
        },
      });
    });
    const certs = update.bundles[td] ?? [];
    return {
      subject,
      source: 'spire.agent.bundle',
      observedAt: deps.clock.now(),
      data: { kind: 'spire.agent.bundle', node: a.node, trustDomain: deps.trustDomain, certificates: certs.map(bundleCertificate) },
    };
  } catch (e) {
    return probeError(subject, 'spire.agent.bundle', `${a.adminEndpoint} DelegatedIdentity/SubscribeToX509Bundles`, e, deps.clock.now());
  }
}

async function readAgentHealth(
  deps: SpirePollDeps,
  port: SpireHealthPort,
  a: SpireAgentTarget,
  url: string,
  signal?: AbortSignal,
): Promise<Observation> {
  const subject = agentSubject(a.node);
  try {
    const h = await port.check(url, 'ready', signal);
    const failing = Object.entries(h.subsystems)
      .filter(([, d]) => Object.keys(d).length > 0)
      .map(([name]) => name)
      .sort();
    return {
      subject,
      source: 'spire.agent.health',
      observedAt: deps.clock.now(),
      data: { kind: 'spire.health', node: a.node, healthy: h.healthy, status: h.status, failing },
    };
  } catch (e) {
    return probeError(subject, 'spire.agent.health', `${url}/ready`, e, deps.clock.now());
  }
}

/** A SPIRE certificate as a bundle entry: serial and expiry. */
export function bundleCertificate(c: SpireCertificate): BundleCertificate {
  return { serialNumber: c.serialHex, expiresAtMs: c.notAfterMs };
}
