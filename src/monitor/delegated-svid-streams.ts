import { createActor, fromCallback, type ActorRefFrom } from 'xstate';
import type { Clock } from '../knowledge/clock.js';
import type { Observation, ServedCertificate } from '../knowledge/model/observation.js';
import { rotationStatus, type RotationPolicy } from '../knowledge/svid-rotation.js';
import type { DelegatedIdentityPort, DelegatedX509SvidsUpdate, SpireSelector } from '../ports/spire.port.js';
import { probeError, recordObservation, type ObservationSink } from './record-observation.js';
import { streamSourceMachine, type StreamSourceEvent } from './stream-source.machine.js';

/** One workload to watch: the selectors its agent attests it with, on that agent's admin socket. */
export interface DelegatedSvidTarget {
  readonly workloadId: string;
  readonly spiffeId: string;
  readonly node: string;
  readonly adminEndpoint: string;
  readonly selectors: readonly SpireSelector[];
}

/** Collaborators of the stream set. */
export interface DelegatedSvidStreamsDeps extends ObservationSink {
  readonly port: DelegatedIdentityPort;
  readonly clock: Clock;
  /** First reconnect delay and its cap (the stream-source machine doubles it per failure). */
  readonly retryMs: number;
  readonly maxBackoffMs: number;
  /** Called when recording fails (knowledge store down): the stream keeps running. */
  readonly onRecordError: (err: unknown, target: DelegatedSvidTarget) => void;
  /** Called after recorded changes, to nudge analysis: at most once per `nudgeWindowMs` (default 25 ms). */
  readonly onChanged?: () => void;
  readonly nudgeWindowMs?: number;
  /** Registers a write a shutdown must wait for. */
  readonly track?: <T>(p: Promise<T>) => Promise<T>;
  /**
   * Share one stream per (agent, namespace, service account) when the registrations allow it (default
   * true); false: one stream per workload, with all its selectors.
   */
  readonly shareStreams?: boolean;
}

type StreamActor = ActorRefFrom<typeof streamSourceMachine>;

interface Member {
  readonly target: DelegatedSvidTarget;
  readonly key: string;
}

/** One SubscribeToX509SVIDs call and the workloads it reports on. */
interface StreamGroup {
  readonly key: string;
  readonly endpoint: string;
  readonly selectors: readonly SpireSelector[];
  /** A namespace + service-account request shared by the workloads of that account on the node. */
  readonly shared: boolean;
  readonly members: Map<string, Member>;
  actor: StreamActor | null;
  /** The newest leaf per SPIFFE ID of the last message, and when it was received; null while not streaming. */
  last: { readonly leaves: ReadonlyMap<string, ServedCertificate>; readonly receivedAtMs: number } | null;
  /** When the current subscription was opened. */
  subscribedAtMs: number;
  /** Earliest rotation point of the members' SVIDs in the last message (Infinity when none). */
  rotateByMs: number;
  /** How often a silent stream past its rotation point is confirmed again (a tenth of the shortest TTL, at least 1 s). */
  reconfirmMs: number;
  /** Re-subscribes (the next first message is a confirmation); null while not subscribed. */
  resubscribe: (() => void) | null;
}

/** SPIRE's agents rotate at half-life; the monitor confirms silence from then on. */
const AGENT_ROTATION: RotationPolicy = { rotateAtFraction: 0.5, graceMs: 0 };

/**
 * Delegated Identity SubscribeToX509SVIDs streams, each a stream-source machine (live.connecting /
 * live.streaming / backoff / failed). SubscribeToX509SVIDs returns every SVID whose entry selectors are
 * a subset of the request's, and every message re-sends all of them, so the workloads of one
 * namespace and service account on a node share one stream asking with just those two selectors;
 * SVIDs are matched by SPIFFE ID. A workload that shared stream does not list (its registration
 * needs more selectors, e.g. the pod name) gets its own stream with all its selectors.
 *
 * Evidence is only as fresh as what was received: every message becomes a `spire.svid` observation
 * for each of its workloads (null when a workload's own stream no longer lists its SPIFFE ID), stamped
 * with the time it was received; the first message of a subscription also carries when that
 * subscription was opened (`subscribedAtMs`). Silence is never re-stamped as fresh: `refresh()`
 * re-subscribes a stream that stayed silent past its SVIDs' rotation point, so the agent's answer to
 * a request made after that point confirms (or not) that it still holds the old SVID. Every failure
 * becomes a `probe.error` observation, then the machine reconnects with backoff. `sync()` opens
 * streams for new targets and closes those that went away.
 */
export class DelegatedSvidStreams {
  private readonly groups = new Map<string, StreamGroup>();
  /** workload id → key of the group reporting on it. */
  private readonly placement = new Map<string, string>();
  /** Member keys a shared stream did not list: they have their own stream. */
  private readonly ownStream = new Set<string>();
  private stopped = false;
  private nudgeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: DelegatedSvidStreamsDeps) {}

  /** Makes the open streams match `targets` (a target whose endpoint or selectors changed is reopened). No-op after stop(). */
  sync(targets: readonly DelegatedSvidTarget[]): void {
    if (this.stopped) return;
    const wanted = new Map(targets.map((t) => [t.workloadId, t]));
    const keys = new Set(targets.map(keyOf));
    for (const k of this.ownStream) if (!keys.has(k)) this.ownStream.delete(k);
    for (const [id, gk] of this.placement) {
      const t = wanted.get(id);
      const g = this.groups.get(gk);
      if (t !== undefined && g?.members.get(id)?.key === keyOf(t) && this.groupKeyOf(t) === gk) continue;
      this.leave(id);
    }
    for (const t of targets) if (!this.placement.has(t.workloadId)) this.join(t);
  }

  /**
   * Confirms silence: re-subscribes every stream whose last message is older than the rotation point
   * of an SVID it reported (and again every `reconfirmMs` while that SVID stays overdue), so the
   * first message of the new subscription tells whether the agent rotated. Nothing is re-stamped.
   * O(streams) per call, no write; returns the number of streams re-subscribed.
   */
  refresh(): Promise<number> {
    const now = this.deps.clock.now();
    let n = 0;
    for (const g of this.groups.values()) {
      if (g.last === null || g.resubscribe === null || now < g.rotateByMs) continue;
      if (g.subscribedAtMs >= Math.max(g.rotateByMs, now - g.reconfirmMs)) continue;
      g.resubscribe();
      n++;
    }
    return Promise.resolve(n);
  }

  /** State of every workload's stream, for /healthz: workload id → machine state. */
  states(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [id, gk] of this.placement) {
      const a = this.groups.get(gk)?.actor;
      if (a !== undefined && a !== null) out[id] = JSON.stringify(a.getSnapshot().value);
    }
    return out;
  }

  /** How many SubscribeToX509SVIDs streams are open (one per group). */
  streamCount(): number {
    return this.groups.size;
  }

  /** Closes every stream for good: a sync() that was still on its way (a late inventory snapshot) opens nothing. */
  stop(): void {
    this.stopped = true;
    for (const g of this.groups.values()) g.actor?.stop();
    this.groups.clear();
    this.placement.clear();
    if (this.nudgeTimer !== undefined) clearTimeout(this.nudgeTimer);
    this.nudgeTimer = undefined;
  }

  private groupKeyOf(t: DelegatedSvidTarget): string {
    const coarse = this.deps.shareStreams === false || this.ownStream.has(keyOf(t)) ? null : accountSelectors(t.selectors);
    return coarse === null ? `${t.adminEndpoint}|own|${keyOf(t)}` : `${t.adminEndpoint}|shared|${selectorKey(coarse)}`;
  }

  private join(t: DelegatedSvidTarget): void {
    const gk = this.groupKeyOf(t);
    let g = this.groups.get(gk);
    if (g === undefined) {
      const coarse = gk.includes('|shared|') ? accountSelectors(t.selectors) : null;
      g = {
        key: gk,
        endpoint: t.adminEndpoint,
        selectors: coarse ?? t.selectors,
        shared: coarse !== null,
        members: new Map(),
        actor: null,
        last: null,
        subscribedAtMs: 0,
        rotateByMs: Infinity,
        reconfirmMs: 1_000,
        resubscribe: null,
      };
      this.groups.set(gk, g);
      g.members.set(t.workloadId, { target: t, key: keyOf(t) });
      this.placement.set(t.workloadId, gk);
      this.open(g);
      return;
    }
    const m = { target: t, key: keyOf(t) };
    g.members.set(t.workloadId, m);
    this.placement.set(t.workloadId, gk);
    // A stream already running answers for the newcomer with what it last received, stamped when it was received.
    const last = g.last;
    if (last !== null) this.report(g, [m], last.leaves, last.receivedAtMs, undefined);
  }

  private leave(id: string): void {
    const gk = this.placement.get(id);
    this.placement.delete(id);
    const g = gk === undefined ? undefined : this.groups.get(gk);
    if (g === undefined) return;
    g.members.delete(id);
    if (g.members.size > 0) return;
    g.actor?.stop();
    this.groups.delete(g.key);
  }

  private open(g: StreamGroup): void {
    const machine = streamSourceMachine.provide({
      actors: { stream: fromCallback<StreamSourceEvent, { source: string }>(({ sendBack }) => this.subscribe(g, sendBack)) },
    });
    const first = g.members.values().next().value;
    const name = g.shared ? g.selectors.map((s) => s.value).join(',') : (first?.target.workloadId ?? g.key);
    const actor = createActor(machine, {
      input: { source: `spire.delegated.svid:${name}`, intervalMs: this.deps.retryMs, maxBackoffMs: this.deps.maxBackoffMs },
    });
    g.actor = actor;
    actor.start();
  }

  /** One call: messages are recorded; the first failure closes it and hands the retry to the machine. */
  private subscribe(g: StreamGroup, sendBack: (e: StreamSourceEvent) => void): () => void {
    let closed = false;
    let first = true;
    g.subscribedAtMs = this.deps.clock.now();
    const close = (): void => {
      closed = true;
      if (g.resubscribe === resubscribe) g.resubscribe = null;
      queueMicrotask(() => {
        watch.close();
      });
    };
    const resubscribe = (): void => {
      if (closed) return;
      close();
      sendBack({ type: 'stream.ended' });
    };
    const watch = this.deps.port.watchX509Svids(g.endpoint, g.selectors, {
      onUpdate: (u) => {
        if (closed) return;
        const sub = first ? g.subscribedAtMs : undefined;
        first = false;
        this.onMessage(g, u, this.deps.clock.now(), sub);
        sendBack({ type: 'stream.message' });
      },
      onError: (f) => {
        if (closed) return;
        close();
        g.last = null;
        if (g.shared && f.code === 'PERMISSION_DENIED') {
          // No identity for the account's selectors alone: the registrations need more, so each workload asks for itself.
          this.moveToOwnStreams(g, [...g.members.values()]);
          return;
        }
        if (f.code === 'STREAM_ENDED') {
          sendBack({ type: 'stream.ended' });
          return;
        }
        const at = this.deps.clock.now();
        for (const m of g.members.values())
          this.record(m.target, probeError(m.target.workloadId, 'spire.delegated.svid', `${g.endpoint} ${f.rpc}`, f.message, at));
        // Reconnect whatever the failure's retry class (that is for execute): PermissionDenied may end once the registration propagates.
        sendBack({ type: 'stream.failed', error: f.message, retryable: true });
      },
    });
    g.resubscribe = resubscribe;
    return () => {
      closed = true;
      if (g.resubscribe === resubscribe) g.resubscribe = null;
      watch.close();
    };
  }

  private onMessage(g: StreamGroup, u: DelegatedX509SvidsUpdate, receivedAtMs: number, subscribedAtMs: number | undefined): void {
    const leaves = new Map<string, ServedCertificate>();
    for (const s of u.svids) {
      const leaf = s.chain[0];
      if (leaf === undefined) continue;
      const prev = leaves.get(s.spiffeId);
      if (prev === undefined || leaf.notBeforeMs > prev.validFromMs)
        leaves.set(s.spiffeId, {
          serialNumber: leaf.serialHex,
          uriSans: leaf.uriSans,
          validFromMs: leaf.notBeforeMs,
          expiresAtMs: leaf.notAfterMs,
        });
    }
    g.last = { leaves, receivedAtMs };
    this.report(g, [...g.members.values()], leaves, receivedAtMs, subscribedAtMs);
  }

  /** Records what a message says of `members`; members a shared stream does not list move to their own stream. */
  private report(
    g: StreamGroup,
    members: readonly Member[],
    leaves: ReadonlyMap<string, ServedCertificate>,
    receivedAtMs: number,
    subscribedAtMs: number | undefined,
  ): void {
    const unlisted: Member[] = [];
    for (const m of members) {
      const leaf = leaves.get(m.target.spiffeId);
      if (g.shared && leaf === undefined) {
        unlisted.push(m);
        continue;
      }
      this.record(m.target, svidObservation(m.target, leaf ?? null, receivedAtMs, subscribedAtMs));
    }
    let rotateBy = Infinity;
    let shortest = Infinity;
    for (const m of g.members.values()) {
      const leaf = leaves.get(m.target.spiffeId);
      if (leaf === undefined) continue;
      const st = rotationStatus(leaf, receivedAtMs, this.deps.rotation ?? AGENT_ROTATION);
      rotateBy = Math.min(rotateBy, st.rotateByMs);
      shortest = Math.min(shortest, st.ttlMs);
    }
    g.rotateByMs = rotateBy;
    g.reconfirmMs = Number.isFinite(shortest) ? Math.max(1_000, Math.floor(shortest / 10)) : 1_000;
    if (unlisted.length > 0) this.moveToOwnStreams(g, unlisted);
  }

  /** Moves members of a shared stream to streams of their own (after the current callback: it may close this stream). */
  private moveToOwnStreams(g: StreamGroup, members: readonly Member[]): void {
    queueMicrotask(() => {
      for (const m of members) {
        if (this.stopped || this.placement.get(m.target.workloadId) !== g.key) continue;
        this.ownStream.add(m.key);
        this.leave(m.target.workloadId);
        this.join(m.target);
      }
    });
  }

  private record(t: DelegatedSvidTarget, obs: Observation): void {
    const write = recordObservation(this.deps, obs);
    void (this.deps.track?.(write) ?? write).then(
      (changed) => {
        if (changed) this.nudge();
      },
      (err: unknown) => {
        this.deps.onRecordError(err, t);
      },
    );
  }

  /** One analysis nudge per window, however many observations changed in it. */
  private nudge(): void {
    const onChanged = this.deps.onChanged;
    if (onChanged === undefined || this.nudgeTimer !== undefined || this.stopped) return;
    this.nudgeTimer = setTimeout(() => {
      this.nudgeTimer = undefined;
      if (!this.stopped) onChanged();
    }, this.deps.nudgeWindowMs ?? 25);
  }
}

function svidObservation(
  t: DelegatedSvidTarget,
  leaf: ServedCertificate | null,
  receivedAtMs: number,
  subscribedAtMs: number | undefined,
): Observation {
  return {
    subject: t.workloadId,
    source: 'spire.delegated.svid',
    observedAt: receivedAtMs,
    data: { kind: 'spire.svid', node: t.node, svid: leaf, ...(subscribedAtMs === undefined ? {} : { subscribedAtMs }) },
  };
}

/** The namespace and service-account selectors of a Kubernetes workload (k8s:ns:…, k8s:sa:…), or null without both. */
function accountSelectors(selectors: readonly SpireSelector[]): SpireSelector[] | null {
  const ns = selectors.filter((s) => s.type === 'k8s' && s.value.startsWith('ns:'));
  const sa = selectors.filter((s) => s.type === 'k8s' && s.value.startsWith('sa:'));
  const [n] = ns;
  const [a] = sa;
  if (ns.length !== 1 || sa.length !== 1 || n === undefined || a === undefined) return null;
  return [n, a];
}

function selectorKey(selectors: readonly SpireSelector[]): string {
  return selectors
    .map((s) => `${s.type}:${s.value}`)
    .sort()
    .join(',');
}

function keyOf(t: DelegatedSvidTarget): string {
  return `${t.adminEndpoint}|${t.spiffeId}|${selectorKey(t.selectors)}`;
}
