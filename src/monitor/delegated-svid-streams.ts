import { createActor, fromCallback, type ActorRefFrom } from 'xstate';
import type { Clock } from '../knowledge/clock.js';
import type { Observation } from '../knowledge/model/observation.js';
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
  /** Called after every recorded change, to nudge analysis. */
  readonly onChanged?: () => void;
  /** Registers a write a shutdown must wait for. */
  readonly track?: <T>(p: Promise<T>) => Promise<T>;
}

type StreamActor = ActorRefFrom<typeof streamSourceMachine>;

/**
 * One Delegated Identity SubscribeToX509SVIDs stream per workload, each a stream-source machine
 * (live.connecting / live.streaming / backoff / failed). Every full-state message becomes a
 * `spire.svid` observation for the workload (null when the agent no longer lists its SPIFFE ID);
 * every failure becomes a `probe.error` observation, then the machine reconnects with backoff.
 * `sync()` opens streams for new targets and closes those that went away.
 */
export class DelegatedSvidStreams {
  private readonly streams = new Map<string, { key: string; actor: StreamActor }>();
  /** The last full-state message per workload while its stream is up (cleared when the stream fails). */
  private readonly current = new Map<string, { target: DelegatedSvidTarget; update: DelegatedX509SvidsUpdate }>();

  constructor(private readonly deps: DelegatedSvidStreamsDeps) {}

  private stopped = false;

  /** Makes the open streams match `targets` (a target whose endpoint or selectors changed is reopened). No-op after stop(). */
  sync(targets: readonly DelegatedSvidTarget[]): void {
    if (this.stopped) return;
    const wanted = new Map(targets.map((t) => [t.workloadId, t]));
    for (const [id, s] of this.streams) {
      const t = wanted.get(id);
      if (t === undefined || keyOf(t) !== s.key) {
        s.actor.stop();
        this.streams.delete(id);
        this.current.delete(id);
      }
    }
    for (const t of targets) if (!this.streams.has(t.workloadId)) this.open(t);
  }

  /**
   * Re-records what every healthy stream last said, stamped now. A stream sends only changes, so
   * silence means "still the same": this keeps the observation's time current (an SVID that
   * stopped rotating then shows its growing age) without auditing anything new.
   */
  async refresh(): Promise<number> {
    let changed = 0;
    for (const { target, update } of [...this.current.values()]) {
      if (await recordObservation(this.deps, this.toObservation(target, update))) changed++;
    }
    return changed;
  }

  /** State of every stream, for /healthz: workload id → machine state. */
  states(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [id, s] of this.streams) out[id] = JSON.stringify(s.actor.getSnapshot().value);
    return out;
  }

  /** Closes every stream for good: a sync() that was still on its way (a late inventory snapshot) opens nothing. */
  stop(): void {
    this.stopped = true;
    for (const s of this.streams.values()) s.actor.stop();
    this.streams.clear();
    this.current.clear();
  }

  private open(t: DelegatedSvidTarget): void {
    const machine = streamSourceMachine.provide({
      actors: { stream: fromCallback<StreamSourceEvent, { source: string }>(({ sendBack }) => this.subscribe(t, sendBack)) },
    });
    const actor = createActor(machine, {
      input: { source: `spire.delegated.svid:${t.workloadId}`, intervalMs: this.deps.retryMs, maxBackoffMs: this.deps.maxBackoffMs },
    });
    actor.start();
    this.streams.set(t.workloadId, { key: keyOf(t), actor });
  }

  /** One call: messages are recorded; the first failure closes it and hands the retry to the machine. */
  private subscribe(t: DelegatedSvidTarget, sendBack: (e: StreamSourceEvent) => void): () => void {
    let closed = false;
    const watch = this.deps.port.watchX509Svids(t.adminEndpoint, t.selectors, {
      onUpdate: (u) => {
        if (closed) return;
        this.current.set(t.workloadId, { target: t, update: u });
        this.record(t, this.toObservation(t, u));
        sendBack({ type: 'stream.message' });
      },
      onError: (f) => {
        if (closed) return;
        closed = true;
        this.current.delete(t.workloadId);
        queueMicrotask(() => {
          watch.close();
        });
        if (f.code === 'STREAM_ENDED') {
          sendBack({ type: 'stream.ended' });
          return;
        }
        this.record(t, probeError(t.workloadId, 'spire.delegated.svid', `${t.adminEndpoint} ${f.rpc}`, f.message, this.deps.clock.now()));
        // Reconnect whatever the failure's retry class (that is for execute): PermissionDenied may end once the registration propagates.
        sendBack({ type: 'stream.failed', error: f.message, retryable: true });
      },
    });
    return () => {
      closed = true;
      watch.close();
    };
  }

  private toObservation(t: DelegatedSvidTarget, u: DelegatedX509SvidsUpdate): Observation {
    const mine = u.svids
      .filter((s) => s.spiffeId === t.spiffeId)
      .sort((a, b) => (b.chain[0]?.notBeforeMs ?? 0) - (a.chain[0]?.notBeforeMs ?? 0))[0];
    const leaf = mine?.chain[0];
    return {
      subject: t.workloadId,
      source: 'spire.delegated.svid',
      observedAt: this.deps.clock.now(),
      data: {
        kind: 'spire.svid',
        node: t.node,
        svid:
          leaf === undefined
            ? null
            : { serialNumber: leaf.serialHex, uriSans: leaf.uriSans, validFromMs: leaf.notBeforeMs, expiresAtMs: leaf.notAfterMs },
      },
    };
  }

  private record(t: DelegatedSvidTarget, obs: Observation): void {
    const write = recordObservation(this.deps, obs);
    void (this.deps.track?.(write) ?? write).then(
      (changed) => {
        if (changed) this.deps.onChanged?.();
      },
      (err: unknown) => {
        this.deps.onRecordError(err, t);
      },
    );
  }
}

function keyOf(t: DelegatedSvidTarget): string {
  return `${t.adminEndpoint}|${t.spiffeId}|${t.selectors
    .map((s) => `${s.type}:${s.value}`)
    .sort()
    .join(',')}`;
}
