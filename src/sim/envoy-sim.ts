import type { MintedCert } from './certs.js';

/** Whether a simulated Envoy is serving (`live`) or down between a quit and its comeback (`restarting`). */
export type SimEnvoyState = 'live' | 'restarting';

/** SDS subscription counters of the SVID secret, as Envoy's `sds.<secret>.*` stats report them. */
export interface SdsStats {
  readonly updateAttempt: number;
  readonly updateSuccess: number;
  readonly updateRejected: number;
  /** Fetches that failed on the network (the agent's socket is gone). */
  readonly updateFailure: number;
  /** 1 when the secret did not arrive within the initial fetch timeout. */
  readonly initFetchTimeout: number;
  /** Gauge: ms epoch of the last accepted update. */
  readonly updateTimeMs: number;
}

/** TLS counters of the inbound listener in this process epoch. */
export interface SslCounters {
  readonly handshake: number;
  readonly connectionError: number;
  readonly failVerifyError: number;
  /** downstream_context_secrets_not_ready: connections reset because the listener has no certificate. */
  readonly secretsNotReady: number;
}

/** Why the SDS stream misbehaves, if it does (set by SimWorld from active faults). */
export interface SdsStreamFaults {
  /** The stream delivers nothing (envoy_sds_stuck). */
  readonly stuck: boolean;
  /** The SVID secret never arrived: the listener serves no certificate (envoy_no_certificate). */
  readonly noCertificate: boolean;
  /** The validation context keeps the bundle it had (ca_rotation_not_propagated on this Envoy). */
  readonly bundleFrozen: boolean;
  /** Peers fail TLS with it at one connection error per tick (handshake_errors). */
  readonly handshakeErrors: boolean;
}

const NO_FAULTS: SdsStreamFaults = { stuck: false, noCertificate: false, bundleFrozen: false, handshakeErrors: false };

/** A read-only copy of one simulated Envoy, for accessors and admin rendering. */
export interface EnvoySnapshot {
  readonly state: SimEnvoyState;
  /** The leaf SVID the Envoy presents (the last one its SDS stream delivered); null when it never got one. */
  readonly served: MintedCert | null;
  /** The CA certificates of its validation context (the trust bundle it last received). */
  readonly caCerts: readonly MintedCert[];
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
  readonly faults: SdsStreamFaults;
  readonly sds: SdsStats;
  /** TLS handshakes on the inbound listener in this epoch (one per tick while live with a certificate). */
  readonly handshakes: number;
  readonly ssl: SslCounters;
}

/** What the agent offers on a tick: its current SVID for this workload and the trust bundle, or null when its socket is gone. */
export interface AgentOffer {
  readonly svid: MintedCert;
  readonly bundle: readonly MintedCert[];
}

/**
 * Mutable state of one simulated Envoy sidecar. Only SimWorld drives it; everyone else sees
 * EnvoySnapshot copies. Each method is one event in the Envoy's life.
 */
export class SimEnvoy {
  private state: SimEnvoyState = 'live';
  private served: MintedCert | null;
  private caCerts: readonly MintedCert[];
  private restartCount = 0;
  private restartUntil: number | null = null;
  private liveSince: number;
  private readonly firstStartedAt: number;
  private faults: SdsStreamFaults = NO_FAULTS;
  private sds: SdsStats;
  private ssl: SslCounters = freshSsl();
  private lastFailureAt = Number.NEGATIVE_INFINITY;

  /** A fresh Envoy that fetched the SVID and bundle over a new SDS stream at `now`. */
  constructor(offer: AgentOffer, now: number) {
    this.served = offer.svid;
    this.caCerts = offer.bundle;
    this.liveSince = now;
    this.firstStartedAt = now;
    this.sds = freshStreamStats(now);
  }

  /** True while down after a quit. */
  get restarting(): boolean {
    return this.state === 'restarting';
  }

  /** Sets which stream faults hold now (SimWorld derives them from the active faults). */
  setFaults(faults: SdsStreamFaults): void {
    if (faults.noCertificate && !this.faults.noCertificate && this.state === 'live') {
      // The secret is gone from the listener: what a never-delivered SDS secret looks like.
      this.served = null;
      this.sds = { ...this.sds, initFetchTimeout: 1 };
    }
    this.faults = faults;
  }

  /**
   * One tick of the SDS stream. `offer` null means the agent's socket is gone: a network failure
   * is counted at most once a second (Envoy's retry backoff). Otherwise a live, unstuck Envoy takes
   * a changed SVID (unless its secret never arrives) and a changed bundle (unless frozen).
   * Returns whether the served SVID changed.
   */
  receive(offer: AgentOffer | null, now: number): boolean {
    if (this.state !== 'live' || this.faults.stuck) return false;
    if (offer === null) {
      if (now - this.lastFailureAt >= 1_000) {
        this.lastFailureAt = now;
        this.sds = { ...this.sds, updateAttempt: this.sds.updateAttempt + 1, updateFailure: this.sds.updateFailure + 1 };
      }
      return false;
    }
    if (!this.faults.bundleFrozen && !sameCerts(this.caCerts, offer.bundle)) this.caCerts = offer.bundle;
    if (this.faults.noCertificate || offer.svid.serialHex === this.served?.serialHex) return false;
    this.served = offer.svid;
    this.sds = { ...this.sds, updateAttempt: this.sds.updateAttempt + 1, updateSuccess: this.sds.updateSuccess + 1, updateTimeMs: now };
    return true;
  }

  /**
   * Peers connected during a tick while live. Without a certificate the connection is reset
   * (secrets_not_ready); with `handshakeErrors` it fails TLS; when `activeCaSerial` (the CA that
   * signs peers' SVIDs) is missing from the validation context, verification fails.
   */
  recordPeerTraffic(activeCaSerial: string): void {
    if (this.state !== 'live') return;
    const s = this.ssl;
    if (this.served === null) {
      this.ssl = { ...s, secretsNotReady: s.secretsNotReady + 1 };
      return;
    }
    const trusted = this.caCerts.some((c) => c.serialHex === activeCaSerial);
    this.ssl = {
      ...s,
      handshake: s.handshake + 1,
      connectionError: s.connectionError + (this.faults.handshakeErrors ? 1 : 0),
      failVerifyError: s.failVerifyError + (trusted ? 0 : 1),
    };
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
   * Comes back if the restart delay has passed: new process epoch and a new SDS stream that
   * fetches the agent's current SVID and bundle (`offer`; null when the agent is down, so the
   * listener starts without a certificate). `faults` are those that hold the new stream too.
   * Returns whether it came back.
   */
  comeBackIfDue(offer: AgentOffer | null, now: number, faults: SdsStreamFaults): boolean {
    if (this.state !== 'restarting' || this.restartUntil === null || now < this.restartUntil) return false;
    this.state = 'live';
    this.restartUntil = null;
    this.liveSince = now;
    this.faults = faults;
    const gets = offer !== null && !faults.noCertificate;
    this.served = gets ? offer.svid : null;
    if (offer !== null) this.caCerts = offer.bundle;
    this.sds = gets ? freshStreamStats(now) : { ...freshStreamStats(now), updateSuccess: 0, initFetchTimeout: 1, updateTimeMs: 0 };
    this.ssl = freshSsl();
    return true;
  }

  /** A read-only copy of the current state. */
  snapshot(): EnvoySnapshot {
    return {
      state: this.state,
      served: this.served,
      caCerts: this.caCerts,
      restartCount: this.restartCount,
      restartUntil: this.restartUntil,
      liveSince: this.liveSince,
      firstStartedAt: this.firstStartedAt,
      sdsStuck: this.faults.stuck,
      faults: this.faults,
      sds: this.sds,
      handshakes: this.ssl.handshake,
      ssl: this.ssl,
    };
  }
}

function sameCerts(a: readonly MintedCert[], b: readonly MintedCert[]): boolean {
  return a.length === b.length && a.every((c, i) => c.serialHex === b[i]?.serialHex);
}

function freshSsl(): SslCounters {
  return { handshake: 0, connectionError: 0, failVerifyError: 0, secretsNotReady: 0 };
}

function freshStreamStats(now: number): SdsStats {
  return { updateAttempt: 1, updateSuccess: 1, updateRejected: 0, updateFailure: 0, initFetchTimeout: 0, updateTimeMs: now };
}
