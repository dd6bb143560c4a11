import { createTrustDomainCa, mintSvid, type MintedCert, type SimCa } from './certs.js';
import { SimEnvoy, type AgentOffer, type EnvoySnapshot, type SdsStreamFaults } from './envoy-sim.js';
import { CONFIGMAP_TARGET, SECRET_TARGET, SIM_FAULTS, type SimFault, type SimFaultKind } from './world-faults.js';
import { checkFaultTarget, HEALED_BY_REATTESTATION, healedByEnvoyQuit } from './world-faults.js';
import { AgentRecords } from './agent-records.js';
import { FaultLog } from './fault-log.js';
import { ServerAuthority } from './server-authority.js';
import { SvidMinter } from './svid-minter.js';
import type {
  AgentEntry,
  Registrations,
  SimAgentAttestation,
  SimAgentState,
  SimAuthorityState,
  SimWorkload,
  SimWorkloadSpec,
  SimWorldOptions,
  TickResult,
  WorkloadEntry,
} from './world-model.js';

export { SECRET_TARGET, type SimFault, type SimFaultKind } from './world-faults.js';
export type {
  Registrations,
  SimAgentAttestation,
  SimAgentState,
  SimAuthorityState,
  SimWorkload,
  SimWorkloadSpec,
  SimWorldOptions,
  TickResult,
} from './world-model.js';

const DEFAULT_NODE = 'node-0';

/**
 * A simulated SPIRE + Envoy fleet: one server CA (with one rotation available), an agent per
 * node, and a workload with an Envoy sidecar per entry. State changes only in `tick()` (time
 * passes), remediation effects (`quitEnvoy`, `restartAgent`, `syncConfigMapBundle`, `clearFault`)
 * and `injectFault()`; the protocol fakes render from the accessors, so what the SPIRE, Envoy and
 * Kubernetes fakes report stays consistent.
 *
 * Rules: an agent that is up and syncing rotates an SVID when now >= notBefore + ttl/2 (SPIRE's
 * half-life rule), signed by the active CA, and pushes it with the bundle; a live Envoy with a
 * healthy SDS stream takes the push; a quit Envoy is down until restartUntil, then comes back on
 * the first tick after that with a new SDS stream. The fault catalogue is in world-faults.ts.
 */
export class SimWorld {
  private readonly entries = new Map<string, WorkloadEntry>();
  private readonly agents = new Map<string, AgentEntry>();
  private readonly faultLog = new FaultLog();
  private tickQueue: Promise<unknown> = Promise.resolve();
  private readonly server: ServerAuthority;
  /** Agent records at the server, per node. */
  private readonly records = new AgentRecords();
  /** Mints the workloads' SVIDs, ahead of their rotation point where it can. */
  private readonly minter: SvidMinter;

  private constructor(
    private readonly options: SimWorldOptions,
    ca: SimCa,
    spare: SimCa,
  ) {
    this.server = new ServerAuthority(ca, spare);
    this.minter = new SvidMinter(options.svidTtlMs, options.registrations ?? 'pod');
  }

  /** Builds a world with a fresh CA for the trust domain (and the one a CA rotation will prepare). Rejects a TTL under 2s. */
  static async create(options: SimWorldOptions): Promise<SimWorld> {
    if (!(options.svidTtlMs >= 2_000))
      throw new Error(`svidTtlMs must be at least 2000 (X.509 times are whole seconds), got ${options.svidTtlMs}`);
    if (!(options.envoyRestartMs >= 0)) throw new Error(`envoyRestartMs must be >= 0, got ${options.envoyRestartMs}`);
    const [ca, spare] = await Promise.all([
      createTrustDomainCa(options.trustDomain, options.now()),
      createTrustDomainCa(options.trustDomain, options.now()),
    ]);
    return new SimWorld(options, ca, spare);
  }

  /** The world's trust domain name. */
  get trustDomain(): string {
    return this.options.trustDomain;
  }

  /** How workloads are registered (see SimWorldOptions). */
  get registrations(): Registrations {
    return this.options.registrations ?? 'pod';
  }

  /** SVID lifetime in ms. */
  get svidTtlMs(): number {
    return this.options.svidTtlMs;
  }

  /** The active CA (signs new SVIDs). */
  get ca(): SimCa {
    return this.server.active;
  }

  /** The world's clock. */
  now(): number {
    return this.options.now();
  }

  /** Adds a workload: its node's agent mints its first SVID and its Envoy starts live serving it. Rejects duplicate ids. */
  async addWorkload(spec: SimWorkloadSpec): Promise<SimWorkload> {
    if (this.entries.has(spec.id)) throw new Error(`workload "${spec.id}" already exists`);
    const now = this.now();
    const node = spec.node ?? DEFAULT_NODE;
    const sharing = this.registrations === 'serviceAccount' ? this.entryOf(node, spec.spiffeId) : undefined;
    const svid =
      sharing !== undefined
        ? { cert: sharing.agentSvid, keys: sharing.keys }
        : await mintSvid({ ca: this.ca, spiffeId: spec.spiffeId, issuedAtMs: now, ttlMs: this.options.svidTtlMs });
    if (this.entries.has(spec.id)) throw new Error(`workload "${spec.id}" already exists`);
    const workload: SimWorkload = { ...spec, node, trustDomain: this.options.trustDomain };
    if (!this.agents.has(workload.node)) this.agents.set(workload.node, { up: true, syncing: true, lastSyncMs: now });
    this.entries.set(spec.id, {
      workload,
      keys: svid.keys,
      agentSvid: svid.cert,
      envoy: new SimEnvoy({ svid: svid.cert, bundle: this.server.bundle }, now),
      healOnComeback: new Set(),
    });
    return workload;
  }

  /**
   * Advances the world to now(): a prepared CA whose time came is activated, agents rotate due
   * SVIDs, restarted Envoys whose delay passed come back, live Envoys take what their agent
   * offers, peers connect. Ticks run one at a time (a tick called during another waits for it).
   */
  tick(): Promise<TickResult> {
    return this.betweenTicks(() => this.tickOnce());
  }

  private async tickOnce(): Promise<TickResult> {
    const now = this.now();
    this.server.activateIfDue(now);
    for (const [node, a] of this.agents) if (a.up && a.syncing && this.records.attested(node)) a.lastSyncMs = now;
    const halfLife = this.options.svidTtlMs / 2;
    this.minter.mintAhead(this.entries.values(), { ca: this.ca, now, rotates: (e) => this.agentRotates(e) });
    const due = [...this.entries.values()].filter((e) => now >= e.agentSvid.notBeforeMs + halfLife && this.agentRotates(e));
    await this.reissue(due, true);
    let pushed = 0;
    let cameBack = 0;
    const activeSerial = this.ca.cert.serialHex;
    for (const e of this.entries.values()) {
      const offer = this.offerFor(e);
      if (e.envoy.restarting) {
        if (e.envoy.comeBackIfDue(offer, now, this.streamFaults(e))) {
          cameBack += 1;
          this.faultLog.heal(e.healOnComeback, now);
          e.healOnComeback.clear();
        }
      } else {
        e.envoy.setFaults(this.streamFaults(e));
        if (e.envoy.receive(offer, now)) pushed += 1;
      }
      e.envoy.recordPeerTraffic(activeSerial);
    }
    return { rotated: due.length, pushed, cameBack };
  }

  /**
   * Injects a fault (see world-faults.ts). Injecting a kind already active on the target returns
   * the existing record. Throws when the target does not fit the kind. A fault injected while an
   * Envoy is restarting holds the stream it opens when it comes back.
   */
  injectFault(fault: { readonly kind: SimFaultKind; readonly target: string }): SimFault {
    checkFaultTarget(fault.kind, fault.target, {
      isNode: (t) => this.agents.has(t),
      workload: (t) => this.entries.get(t)?.workload,
      hasCloudRun: this.workloads().some((w) => w.platform === 'cloudrun'),
    });
    const { fault: record, added } = this.faultLog.inject(fault.kind, fault.target, this.now());
    if (!added) return { ...record };
    if (fault.kind === 'agent_down') this.agentEntry(fault.target).up = false;
    if (fault.kind === 'agent_server_lost') this.agentEntry(fault.target).syncing = false;
    if (fault.kind === 'ca_rotation_not_propagated') this.startCaRotation();
    const e = this.entries.get(fault.target);
    if (e !== undefined && !e.envoy.restarting) e.envoy.setFaults(this.streamFaults(e));
    return { ...record };
  }

  /**
   * Starts the server's CA rotation: the spare CA is prepared (added to the bundle, sequence
   * number + 1, and to the ConfigMap unless a fault keeps it out) and becomes active svidTtl/2
   * later. Idempotent; throws when the world's one rotation was already used.
   */
  startCaRotation(): void {
    this.server.startRotation(
      this.now() + this.options.svidTtlMs / 2,
      this.faultLog.isActive('ca_rotation_not_propagated', CONFIGMAP_TARGET),
    );
  }

  /**
   * The effect of POST /quitquitquit on a workload's Envoy: restartCount += 1; a live Envoy goes
   * down for envoyRestartMs and comes back healed of the faults a restart heals (with
   * `podReplaced`, a new pod: also those only a pod replacement heals). A quit on a workload with
   * no active fault is counted in actionsOnHealthyTargets.
   */
  quitEnvoy(workloadId: string, how: { readonly podReplaced?: boolean } = {}): void {
    const e = this.entry(workloadId);
    const affecting = this.faultsAffecting(e);
    if (affecting.length === 0) this.faultLog.countActionOnHealthyTarget();
    for (const f of healedByEnvoyQuit(affecting, workloadId, how.podReplaced === true)) e.healOnComeback.add(f.id);
    e.envoy.quit(this.now(), this.options.envoyRestartMs);
  }

  /**
   * Restarts a node's SPIRE agent: it comes back up, syncing, and heals agent_down,
   * agent_server_lost and svid_rotation_stopped on that node. Counted in actionsOnHealthyTargets
   * when none of them was active.
   */
  restartAgent(node: string): void {
    const agent = this.agentEntry(node);
    const healed = this.faultsOnNode(node).filter((f) => SIM_FAULTS[f.kind].healedBy === 'agent_restart');
    if (healed.length === 0) this.faultLog.countActionOnHealthyTarget();
    agent.up = true;
    agent.syncing = true;
    agent.lastSyncMs = this.now();
    this.faultLog.heal(healed, this.now());
  }

  /** Copies the server's bundle into the spire-bundle ConfigMap; heals the ConfigMap's ca_rotation_not_propagated. */
  syncConfigMapBundle(): void {
    const stale = this.faultLog.active().filter((f) => f.kind === 'ca_rotation_not_propagated' && f.target === CONFIGMAP_TARGET);
    if (this.server.syncConfigMap() && stale.length === 0) this.faultLog.countActionOnHealthyTarget();
    this.faultLog.heal(stale, this.now());
  }

  /** Ends an active fault by id (faults healed from outside the world, e.g. a ready Cloud Run revision). Returns whether it was active. */
  clearFault(id: string): boolean {
    const active = this.faultLog.active().some((f) => f.id === id);
    this.faultLog.heal([id], this.now());
    return active;
  }

  /** Every workload, in insertion order. */
  workloads(): SimWorkload[] {
    return [...this.entries.values()].map((e) => e.workload);
  }

  /** The workloads a node's agent serves. */
  workloadsOn(node: string): SimWorkload[] {
    return this.workloads().filter((w) => w.node === node);
  }

  /** One workload, or undefined. */
  workload(id: string): SimWorkload | undefined {
    return this.entries.get(id)?.workload;
  }

  /** Node names, in order of first use. */
  nodes(): string[] {
    return [...this.agents.keys()];
  }

  /** A node's agent state. Throws for an unknown node. */
  agent(node: string): SimAgentState {
    const a = this.agentEntry(node);
    return { node, up: a.up, syncing: a.syncing, lastSyncSuccessMs: a.lastSyncMs };
  }

  /** A copy of the Envoy's state (served SVID, CA certs, restartCount, state, stats). Throws for an unknown id. */
  envoy(workloadId: string): EnvoySnapshot {
    return this.entry(workloadId).envoy.snapshot();
  }

  /** The SVID the workload's agent currently holds. Throws for an unknown id. */
  agentSvid(workloadId: string): MintedCert {
    return this.entry(workloadId).agentSvid;
  }

  /** The server's X.509 authority slots. */
  authorityState(): SimAuthorityState {
    return this.server.state;
  }

  /** The server's trust bundle (what agents distribute) and its sequence number. */
  trustBundle(): { readonly certs: readonly MintedCert[]; readonly sequenceNumber: number } {
    return { certs: this.server.bundle, sequenceNumber: this.server.sequenceNumber };
  }

  /** What the spire/spire-bundle ConfigMap holds. */
  configMapBundle(): readonly MintedCert[] {
    return this.server.configMap;
  }

  /** Every injected fault (copies), oldest first. */
  faults(): SimFault[] {
    return this.faultLog.all();
  }

  /** Remediation actions performed on targets that had no active fault at that moment. */
  get actionsOnHealthyTargets(): number {
    return this.faultLog.actionsOnHealthyTargets;
  }

  /** A node's agent record at the server. Throws for an unknown node. */
  agentAttestation(node: string): SimAgentAttestation {
    this.agentEntry(node);
    return this.records.get(node);
  }

  /** How a node's agent attests, e.g. ('join_token', false): such an agent cannot come back after an eviction. */
  setAgentAttestor(node: string, attestationType: string, canReattest: boolean): void {
    this.agentEntry(node);
    this.records.setAttestor(node, attestationType, canReattest);
  }

  /**
   * DeleteAgent: removes the node's agent record (lifting a ban). Its syncs are refused (no sync,
   * no rotation) until reattestAgent. False when there is no record (NotFound). Counted in
   * actionsOnHealthyTargets when no fault was active on the node or its workloads.
   */
  evictAgent(node: string): boolean {
    this.agentEntry(node);
    if (!this.records.hasRecord(node)) return false;
    if (this.faultsOnNode(node).length === 0) this.faultLog.countActionOnHealthyTarget();
    return this.records.evict(node, this.now());
  }

  /**
   * BanAgent (the healer never bans; tests do): the record stays, banned, and the agent cannot attest until evictAgent. False when
   * no record.
   */
  banAgent(node: string): boolean {
    this.agentEntry(node);
    return this.records.ban(node, this.now());
  }

  /**
   * AttestAgent by an evicted agent. Succeeds only without a record, unbanned, with an attestor
   * that can re-attest, while the agent is up and reaches its server: the record is back
   * (generation + 1), the agent syncs, every SVID of the node is minted anew by the active CA and
   * the faults in HEALED_BY_REATTESTATION on the node and its workloads heal. Runs between ticks.
   */
  reattestAgent(node: string): Promise<boolean> {
    return this.betweenTicks(async () => {
      const agent = this.agentEntry(node);
      if (!this.records.mayReattest(node) || !agent.up || !agent.syncing) return false;
      await this.reissue([...this.entries.values()].filter((e) => e.workload.node === node));
      const now = this.now();
      this.records.reattested(node);
      agent.lastSyncMs = now;
      this.faultLog.heal(
        this.faultsOnNode(node).filter((f) => HEALED_BY_REATTESTATION.has(f.kind)),
        now,
      );
      return true;
    });
  }

  /**
   * PrepareX509Authority: a new CA in the prepared slot, the bundle (sequence + 1) and the
   * ConfigMap (unless a fault keeps it out). SPIRE keeps one "next" slot, so an old authority
   * leaves the slots (not the bundle). It is not activated by itself. Does not use the spare CA
   * that fault injection rotates to.
   */
  prepareAuthority(): Promise<SimCa> {
    return this.betweenTicks(async () => {
      const ca = await createTrustDomainCa(this.options.trustDomain, this.now());
      this.server.prepare(ca, this.faultLog.isActive('ca_rotation_not_propagated', CONFIGMAP_TARGET));
      return ca;
    });
  }

  /** ActivateX509Authority: the prepared CA signs from now on, the active one becomes old. Throws when none is prepared. */
  activateAuthority(): SimCa {
    return this.server.activate();
  }

  /**
   * TaintX509Authority on the old CA: tainted in the bundle (sequence + 1), and every agent that
   * syncs re-mints at once the SVIDs that CA signed. Resolves how many. Throws without an old CA.
   */
  taintAuthority(): Promise<number> {
    return this.betweenTicks(async () => {
      const old = this.server.taintOld();
      const signed = [...this.entries.values()].filter((e) => this.agentRotates(e) && e.agentSvid.x509.verify(old.cert.x509.publicKey));
      await this.reissue(signed);
      return signed.length;
    });
  }

  /** RevokeX509Authority on the old, tainted CA: out of the bundle (sequence + 1) and the ConfigMap. Throws otherwise. */
  revokeAuthority(): SimCa {
    return this.server.revokeOld(this.faultLog.isActive('ca_rotation_not_propagated', CONFIGMAP_TARGET));
  }

  /** Whether a bundle CA certificate is tainted. */
  isAuthorityTainted(cert: MintedCert): boolean {
    return this.server.isTainted(cert);
  }

  /** Runs `fn` in the tick queue, so it never interleaves with a tick. */
  private betweenTicks<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tickQueue.then(fn);
    this.tickQueue = run.catch(() => undefined);
    return run;
  }

  /** Mints a new SVID (same key) by the active CA for each entry (see SvidMinter). */
  private reissue(entries: readonly WorkloadEntry[], rotation = false): Promise<void> {
    return this.minter.reissue(entries, { ca: this.ca, now: this.now(), rotation, live: this.entries.values() });
  }

  /** The first entry registered for `spiffeId` on `node` (service-account registrations share its SVID). */
  private entryOf(node: string, spiffeId: string): WorkloadEntry | undefined {
    for (const e of this.entries.values()) if (e.workload.node === node && e.workload.spiffeId === spiffeId) return e;
    return undefined;
  }

  private agentRotates(e: WorkloadEntry): boolean {
    const a = this.agents.get(e.workload.node);
    if (a === undefined || !a.up || !a.syncing || !this.records.attested(e.workload.node)) return false;
    return !this.faultLog.isActive('svid_rotation_stopped', e.workload.id);
  }

  /**
   * What the agent offers the workload's Envoy: null while the agent is down or the Envoy's SDS connection to it is broken
   * (envoy_sds_disconnected, unless its pending comeback heals it).
   */
  private offerFor(e: WorkloadEntry): AgentOffer | null {
    if (this.agents.get(e.workload.node)?.up !== true) return null;
    return this.faultLog.isActive('envoy_sds_disconnected', e.workload.id, e.healOnComeback)
      ? null
      : { svid: e.agentSvid, bundle: this.server.bundle };
  }

  /** The stream faults that hold a workload's Envoy now (excluding those its pending comeback heals). */
  private streamFaults(e: WorkloadEntry): SdsStreamFaults {
    const has = (k: SimFaultKind): boolean => this.faultLog.isActive(k, e.workload.id, e.healOnComeback);
    return {
      stuck: has('envoy_sds_stuck'),
      noCertificate: has('envoy_no_certificate'),
      bundleFrozen: has('ca_rotation_not_propagated'),
      handshakeErrors: has('handshake_errors'),
    };
  }

  /**
   * Active faults on the workload itself or on its node (and, for a Cloud Run workload, on the CA-bundle secret it mounts: a new
   * revision is how it reads a synced secret).
   */
  private faultsAffecting(e: WorkloadEntry): SimFault[] {
    return this.faultLog
      .active()
      .filter(
        (f) =>
          f.target === e.workload.id || f.target === e.workload.node || (f.target === SECRET_TARGET && e.workload.platform === 'cloudrun'),
      );
  }

  /** Active faults on a node or its workloads. */
  private faultsOnNode(node: string): SimFault[] {
    return this.faultLog.activeOnNode(
      node,
      this.workloadsOn(node).map((w) => w.id),
    );
  }

  private agentEntry(node: string): AgentEntry {
    const a = this.agents.get(node);
    if (a === undefined) throw new Error(`no simulated node "${node}"`);
    return a;
  }

  private entry(workloadId: string): WorkloadEntry {
    const e = this.entries.get(workloadId);
    if (e === undefined) throw new Error(`no simulated workload "${workloadId}"`);
    return e;
  }
}
