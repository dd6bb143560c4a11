import type { MintedCert } from './certs.js';

/** Whether a simulated Envoy is serving (`live`) or down between a quit and its comeback (`restarting`). */
export type SimEnvoyState = 'live' | 'restarting';

/** SDS subscription counters of the SVID secret, as Envoy's `sds.<secret>.*` stats report them. */
export interface SdsStats {
  readonly updateAttempt: number;
  readonly updateSuccess: number;
  readonly updateRejected: number;
  readonly updateFailure: number;
  /** Gauge: ms epoch of the last accepted update. */
  readonly updateTimeMs: number;
}

/** A read-only copy of one simulated Envoy, for accessors and admin rendering. */
export interface EnvoySnapshot {
  readonly state: SimEnvoyState;
  /** The leaf SVID the Envoy presents (the last one its SDS stream delivered). */
  readonly served: MintedCert;
  /** How many quits it accepted (the kubelet's container restart count). */
  readonly restartCount: number;
  /** When a restarting Envoy comes back; null while live. */
  readonly restartUntil: number | null;
  /** Start of the current process epoch (server_info uptime_current_epoch). */
  readonly liveSince: number;
  /** First start ever (server_info uptime_all_epochs). */
  readonly firstStartedAt: number;
  /** True while an `envoy_sds_stuck` fault holds the SDS stream: pushes are not received. */
  readonly sdsStuck: boolean;
  readonly sds: SdsStats;
  /** TLS handshakes on the inbound listener in this epoch (one per tick while live). */
  readonly handshakes: number;
}

/**
 * Mutable state of one simulated Envoy sidecar. Only SimWorld drives it; everyone else sees
 * EnvoySnapshot copies. Each method is one event in the Envoy's life.
 */
export class SimEnvoy {
  private state: SimEnvoyState = 'live';
  private served: MintedCert;
  private restartCount = 0;
  private restartUntil: number | null = null;
  private liveSince: number;
  private readonly firstStartedAt: number;
  private sdsStuck = false;
  private sds: SdsStats;
  private handshakes = 0;

  /** A fresh Envoy that fetched `svid` over a new SDS stream at `now`. */
  constructor(svid: MintedCert, now: number) {
    this.served = svid;
    this.liveSince = now;
    this.firstStartedAt = now;
    this.sds = freshStreamStats(now);
  }

  /** True while down after a quit. */
  get restarting(): boolean {
    return this.state === 'restarting';
  }

  /**
   * The agent pushed `svid` on the SDS stream. Received only when live, not stuck, and the
   * serial differs from what is served. Returns whether the served SVID changed.
   */
  receivePush(svid: MintedCert, now: number): boolean {
    if (this.state !== 'live' || this.sdsStuck || svid.serialHex === this.served.serialHex) return false;
    this.served = svid;
    this.sds = { ...this.sds, updateAttempt: this.sds.updateAttempt + 1, updateSuccess: this.sds.updateSuccess + 1, updateTimeMs: now };
    return true;
  }

  /** Peers connected during a tick while live. */
  recordHandshake(): void {
    if (this.state === 'live') this.handshakes += 1;
  }

  /** The SDS stream stops delivering updates (an `envoy_sds_stuck` fault took hold). */
  markStreamStuck(): void {
    this.sdsStuck = true;
  }

  /**
   * POST /quitquitquit: counts a restart; a live Envoy goes down until `now + restartMs`.
   * A quit while already restarting is counted but does not move the comeback time.
   */
  quit(now: number, restartMs: number): void {
    this.restartCount += 1;
    if (this.state === 'restarting') return;
    this.state = 'restarting';
    this.restartUntil = now + restartMs;
  }

  /**
   * Comes back if the restart delay has passed: new process epoch, new SDS stream that fetches
   * `svid` (the agent's current SVID), stats reset. `stillStuck` is true when a fault that the
   * quit did not cover (injected during the restart) holds the new stream too. Returns whether
   * it came back.
   */
  comeBackIfDue(svid: MintedCert, now: number, stillStuck: boolean): boolean {
    if (this.state !== 'restarting' || this.restartUntil === null || now < this.restartUntil) return false;
    this.state = 'live';
    this.restartUntil = null;
    this.liveSince = now;
    this.served = svid;
    this.sdsStuck = stillStuck;
    this.sds = freshStreamStats(now);
    this.handshakes = 0;
    return true;
  }

  /** A read-only copy of the current state. */
  snapshot(): EnvoySnapshot {
    return {
      state: this.state,
      served: this.served,
      restartCount: this.restartCount,
      restartUntil: this.restartUntil,
      liveSince: this.liveSince,
      firstStartedAt: this.firstStartedAt,
      sdsStuck: this.sdsStuck,
      sds: this.sds,
      handshakes: this.handshakes,
    };
  }
}

function freshStreamStats(now: number): SdsStats {
  return { updateAttempt: 1, updateSuccess: 1, updateRejected: 0, updateFailure: 0, updateTimeMs: now };
}
