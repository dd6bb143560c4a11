import type { Workload } from '../knowledge/model/workload.js';
import { createTrustDomainCa, mintSvid, type MintedCert, type SimCa, type SvidKeyPair } from './certs.js';
import { SimEnvoy, type EnvoySnapshot } from './envoy-sim.js';

/** How a SimWorld is built. Times are ms; `now` is the only clock the world reads. */
export interface SimWorldOptions {
  readonly trustDomain: string;
  /** SVID lifetime; at least 2s because X.509 times are whole seconds. */
  readonly svidTtlMs: number;
  /** How long a quit Envoy stays down before it comes back. */
  readonly envoyRestartMs: number;
  readonly now: () => number;
}

/**
 * A simulated workload: one SPIFFE identity served to one Envoy sidecar by one SPIRE agent.
 * Same fields as the fleet model's Workload, minus the admin URL (the admin server assigns it).
 */
export type SimWorkload = Omit<Workload, 'envoyAdminUrl'>;

/** What addWorkload takes: a SimWorkload without the trust domain (the world's own). */
export type SimWorkloadSpec = Omit<SimWorkload, 'trustDomain'>;

/** The fault kinds the world can simulate. */
export type SimFaultKind = 'envoy_sds_stuck';

/** One injected fault. Healed when the Envoy came back from a restart and serves a current SVID again. */
export interface SimFault {
  /** "<kind>--<target>--<n>", unique within the world. */
  readonly id: string;
  readonly kind: SimFaultKind;
  /** Workload id. */
  readonly target: string;
  readonly injectedAt: number;
  readonly healedAt: number | null;
}

/** What one tick changed. */
export interface TickResult {
  /** SVIDs the agents rotated (reached half their TTL). */
  readonly rotated: number;
  /** Envoys whose served SVID changed by an SDS push. */
  readonly pushed: number;
  /** Envoys that came back from a restart. */
  readonly cameBack: number;
}

interface WorkloadEntry {
  readonly workload: SimWorkload;
  /** Reused across rotations: a rotation is one signature. */
  readonly keys: SvidKeyPair;
  /** The SVID the agent currently holds for this workload (what a new SDS stream receives). */
  agentSvid: MintedCert;
  readonly envoy: SimEnvoy;
  /** Faults active at the latest quit(s); the comeback heals them. */
  readonly healOnComeback: Set<string>;
}

/**
 * A simulated SPIRE + Envoy fleet. State changes only in `tick()` (time passes), `quitEnvoy()`
 * (POST /quitquitquit) and `injectFault()`; the admin server renders from the accessors.
 *
 * Rules: the agent rotates an SVID when now >= notBefore + ttl/2 (SPIRE's half-life rule) and
 * pushes it; a live Envoy with a healthy SDS stream takes the push; an Envoy with
 * `envoy_sds_stuck` keeps the old SVID; a quit Envoy is down until restartUntil, then comes back
 * on the first tick after that with a new SDS stream and the agent's current SVID.
 */
export class SimWorld {
  private readonly entries = new Map<string, WorkloadEntry>();
  private readonly faultLog: SimFault[] = [];
  private healthyTargetActions = 0;
  private tickQueue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly options: SimWorldOptions,
    /** The trust domain's CA that signs every SVID. */
    readonly ca: SimCa,
  ) {}

  /** Builds a world with a fresh CA for the trust domain. Rejects a TTL under 2s. */
  static async create(options: SimWorldOptions): Promise<SimWorld> {
    if (!(options.svidTtlMs >= 2_000)) throw new Error(`svidTtlMs must be at least 2000 (X.509 times are whole seconds), got ${options.svidTtlMs}`);
    if (!(options.envoyRestartMs >= 0)) throw new Error(`envoyRestartMs must be >= 0, got ${options.envoyRestartMs}`);
    return new SimWorld(options, await createTrustDomainCa(options.trustDomain, options.now()));
  }

  /** The world's trust domain name. */
  get trustDomain(): string {
    return this.options.trustDomain;
  }

  /** SVID lifetime in ms. */
  get svidTtlMs(): number {
    return this.options.svidTtlMs;
  }

  /** The world's clock. */
  now(): number {
    return this.options.now();
  }

  /** Adds a workload: the agent mints its first SVID and its Envoy starts live serving it. Rejects duplicate ids. */
  async addWorkload(spec: SimWorkloadSpec): Promise<SimWorkload> {
    if (this.entries.has(spec.id)) throw new Error(`workload "${spec.id}" already exists`);
    const now = this.now();
    const svid = await mintSvid({ ca: this.ca, spiffeId: spec.spiffeId, issuedAtMs: now, ttlMs: this.options.svidTtlMs });
    if (this.entries.has(spec.id)) throw new Error(`workload "${spec.id}" already exists`);
    const workload: SimWorkload = { ...spec, trustDomain: this.options.trustDomain };
    this.entries.set(spec.id, {
      workload, keys: svid.keys, agentSvid: svid.cert, envoy: new SimEnvoy(svid.cert, now), healOnComeback: new Set(),
    });
    return workload;
  }

  /**
   * Advances the world to now(): agents rotate due SVIDs, restarted Envoys whose delay passed
   * come back, live Envoys with a healthy stream take the agent's current SVID. Ticks run one
   * at a time (a tick called during another waits for it).
   */
  tick(): Promise<TickResult> {
    const run = this.tickQueue.then(() => this.tickOnce());
    this.tickQueue = run.catch(() => undefined);
    return run;
  }

  private async tickOnce(): Promise<TickResult> {
    const now = this.now();
    const halfLife = this.options.svidTtlMs / 2;
    const due = [...this.entries.values()].filter((e) => now >= e.agentSvid.notBeforeMs + halfLife);
    const minted = await Promise.all(
      due.map((e) => mintSvid({ ca: this.ca, spiffeId: e.workload.spiffeId, issuedAtMs: now, ttlMs: this.options.svidTtlMs, keys: e.keys })),
    );
    due.forEach((e, i) => {
      const m = minted[i];
      if (m !== undefined) e.agentSvid = m.cert;
    });
    let pushed = 0;
    let cameBack = 0;
    for (const e of this.entries.values()) {
      if (e.envoy.restarting) {
        const stillStuck = this.activeFaults(e.workload.id).some((f) => !e.healOnComeback.has(f.id));
        if (e.envoy.comeBackIfDue(e.agentSvid, now, stillStuck)) {
          cameBack += 1;
          this.healFaults(e, now);
        }
      } else if (e.envoy.receivePush(e.agentSvid, now)) {
        pushed += 1;
      }
      e.envoy.recordHandshake();
    }
    return { rotated: due.length, pushed, cameBack };
  }

  /**
   * Injects a fault on a workload's Envoy. `envoy_sds_stuck`: its SDS stream stops delivering
   * pushes until the Envoy restarts. Injecting a kind already active on the target returns the
   * existing record. A fault injected while the Envoy is restarting holds the stream it opens
   * when it comes back (only a later quit heals it).
   */
  injectFault(fault: { readonly kind: SimFaultKind; readonly target: string }): SimFault {
    const e = this.entry(fault.target);
    const existing = this.activeFaults(fault.target, fault.kind)[0];
    if (existing !== undefined) return { ...existing };
    const record: SimFault = { id: `${fault.kind}--${fault.target}--${this.faultLog.length + 1}`, kind: fault.kind, target: fault.target, injectedAt: this.now(), healedAt: null };
    this.faultLog.push(record);
    if (!e.envoy.restarting) e.envoy.markStreamStuck();
    return { ...record };
  }

  /**
   * The effect of POST /quitquitquit on a workload's Envoy: restartCount += 1; a live Envoy goes
   * down for envoyRestartMs. A quit on an Envoy with no active fault changes nothing useful and
   * is counted in actionsOnHealthyTargets. A quit while restarting is counted as a restart but
   * does not move the comeback time.
   */
  quitEnvoy(workloadId: string): void {
    const e = this.entry(workloadId);
    const active = this.activeFaults(workloadId);
    if (active.length === 0) this.healthyTargetActions += 1;
    for (const f of active) e.healOnComeback.add(f.id);
    e.envoy.quit(this.now(), this.options.envoyRestartMs);
  }

  /** Every workload, in insertion order. */
  workloads(): SimWorkload[] {
    return [...this.entries.values()].map((e) => e.workload);
  }

  /** One workload, or undefined. */
  workload(id: string): SimWorkload | undefined {
    return this.entries.get(id)?.workload;
  }

  /** A copy of the Envoy's state (served SVID, restartCount, state, SDS stats). Throws for an unknown id. */
  envoy(workloadId: string): EnvoySnapshot {
    return this.entry(workloadId).envoy.snapshot();
  }

  /** The SVID the workload's agent currently holds. Throws for an unknown id. */
  agentSvid(workloadId: string): MintedCert {
    return this.entry(workloadId).agentSvid;
  }

  /** Every injected fault (copies), oldest first. */
  faults(): SimFault[] {
    return this.faultLog.map((f) => ({ ...f }));
  }

  /** Quits performed on Envoys that had no active fault at that moment. */
  get actionsOnHealthyTargets(): number {
    return this.healthyTargetActions;
  }

  /** Unhealed faults on a workload, optionally of one kind. */
  private activeFaults(workloadId: string, kind?: string): SimFault[] {
    return this.faultLog.filter((f) => f.target === workloadId && f.healedAt === null && (kind === undefined || f.kind === kind));
  }

  private healFaults(e: WorkloadEntry, at: number): void {
    this.faultLog.forEach((f, i) => {
      if (e.healOnComeback.has(f.id) && f.healedAt === null) this.faultLog[i] = { ...f, healedAt: at };
    });
    e.healOnComeback.clear();
  }

  private entry(workloadId: string): WorkloadEntry {
    const e = this.entries.get(workloadId);
    if (e === undefined) throw new Error(`no simulated workload "${workloadId}"`);
    return e;
  }
}
