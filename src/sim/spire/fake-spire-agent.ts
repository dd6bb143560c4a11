/**
 * A fake SPIRE agent for one node, over the real protocols, reading a SimWorld: the Workload API
 * on a public socket, Delegated Identity + Debug on an admin socket (a sibling directory, as SPIRE
 * requires), and the /live /ready health listener. It serves `world.workloadsOn(node)` with
 * `world.agentSvid(id)` and the bundle `world.trustBundle()`, so it matches what the fake Envoys
 * get by SDS; the world owns every fault (svid_rotation_stopped, agent_server_lost freeze what the
 * world hands out). Its own SVID renews at half-life only while `world.agent(node).syncing`.
 * `stop()` / `start()` model agent down / up: servers closed and sockets removed, then rebound on
 * the same paths. The world's agent_down does not stop it by itself: the fleet wiring calls
 * stop() / start() (after world.restartAgent(node)).
 *
 * Eviction: while the world says the server holds no record of it (DeleteAgent), the agent tries
 * to attest again on every look, as SPIRE agents do in-process; `world.reattestAgent` decides
 * (it needs the server reachable, no ban and an attestor that can re-attest). Every new
 * attestation generation mints a new agent SVID; an evicted agent never renews its own.
 *
 * Caveat: the world does not expose SVID private keys, so x509_svid_key is a per-workload P-256
 * key that does NOT match the certificate. Fine for monitoring; not usable for TLS.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { spireServices } from '../../adapters/spire/spire-protos.js';
import type { SpireAgentRecord } from '../../ports/spire.port.js';
import { mintSvid, type MintedCert } from '../certs.js';
import type { SimAgentAttestation, SimAgentState, SimWorld } from '../world.js';
import { SIMULATED_LABELS } from '../world-model.js';
import { agentDebugHandlers, delegatedIdentityHandlers } from './agent-admin.service.js';
import type { FakeAgentView, ServedBundle, ServedIdentity } from './agent-view.js';
import { agentNodeSelector } from '../../knowledge/spire-agent-node.js';
import { bindServer, makeSocketDir, removeDir, type BoundServer } from './grpc-endpoint.js';
import { startSpireHealthServer, type HealthDetails, type SpireHealthServer } from './health-http.js';
import { ServedState } from './served-state.js';
import { workloadApiHandlers } from './workload-api.service.js';

export { workloadSelectors } from './selectors.js';

/** How a fake agent is set up. */
export interface FakeSpireAgentOptions {
  readonly world: SimWorld;
  /** Node whose workloads the agent serves (default: the world's first node, else "node-0"). */
  readonly node?: string;
  /** Directory for `public/api.sock` and `private/admin.sock`; a temp dir (removed by dispose) when absent. */
  readonly socketDir?: string;
  /** Lifetime of the agent's own SVID (default 1 h). */
  readonly agentSvidTtlMs?: number;
  /** How often the agent looks at the world for changes (default 100 ms; 0 = only on notify()). */
  readonly pollMs?: number;
  /** Serve the HTTP health listener (default true). */
  readonly health?: boolean;
}

/** The fake agent. Create, then `start()`; `dispose()` when done. */
export class FakeSpireAgent implements FakeAgentView {
  readonly node: string;
  /** spiffe://<td>/spire/agent/sim/<node>. */
  readonly agentId: string;
  readonly trustDomainId: string;
  /** Health details per subsystem; set a detail to make /live and /ready answer 500. */
  readonly health: HealthDetails = { agent: {} };
  private readonly options: FakeSpireAgentOptions;
  private readonly world: SimWorld;
  private readonly dir: string;
  private readonly ownsDir: boolean;
  private readonly state: ServedState;
  private readonly listeners = new Set<() => void>();
  private servers: BoundServer[] = [];
  private healthServer: SpireHealthServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private caller: readonly string[] | 'all' = 'all';
  private callers: readonly ServedIdentity[] = [];
  private startedAtMs: number;
  private svid: MintedCert | undefined;
  /** The world's attestation generation the current agent SVID belongs to. */
  private svidGeneration = 0;
  private queue: Promise<void> = Promise.resolve();
  private inFlight = false;
  private sent = 0;

  /** See FakeSpireAgentOptions. */
  constructor(options: FakeSpireAgentOptions) {
    this.options = options;
    this.world = options.world;
    this.node = options.node ?? this.world.nodes()[0] ?? 'node-0';
    const td = this.world.trustDomain;
    this.trustDomainId = `spiffe://${td}`;
    this.agentId = `spiffe://${td}/spire/agent/sim/${this.node}`;
    this.ownsDir = options.socketDir === undefined;
    this.dir = options.socketDir ?? makeSocketDir('spire-agent-');
    this.state = new ServedState(this.world, this.node);
    this.startedAtMs = this.world.now();
  }

  /** unix:// endpoint of the public (Workload API) socket; valid after start(). */
  get publicEndpoint(): string {
    return `unix://${join(this.dir, 'public', 'api.sock')}`;
  }

  /** unix:// endpoint of the admin socket. */
  get adminEndpoint(): string {
    return `unix://${join(this.dir, 'private', 'admin.sock')}`;
  }

  /** Base URL of the health listener, undefined when not serving. */
  get healthUrl(): string | undefined {
    return this.healthServer?.url;
  }

  /** True between start() and stop(). */
  get running(): boolean {
    return this.servers.length > 0;
  }

  /** The agent's own SVID (minted at the first start), undefined before. */
  get agentSvid(): MintedCert | undefined {
    return this.svid;
  }

  /** Full-state messages written to streams so far (every stream, both sockets). */
  get messagesSent(): number {
    return this.sent;
  }

  /** Binds both sockets (and health), reads the world, mints the agent SVID on first start. Idempotent. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.look();
    this.startedAtMs = this.world.now();
    const svc = spireServices();
    const pub = new grpc.Server();
    pub.addService(svc.workload.definition, workloadApiHandlers(this));
    const admin = new grpc.Server();
    admin.addService(svc.delegatedIdentity.definition, delegatedIdentityHandlers(this));
    admin.addService(svc.agentDebug.definition, agentDebugHandlers(this));
    mkdirSync(join(this.dir, 'public'), { recursive: true });
    mkdirSync(join(this.dir, 'private'), { recursive: true });
    this.servers = [
      await bindServer(pub, { socketPath: join(this.dir, 'public', 'api.sock') }),
      await bindServer(admin, { socketPath: join(this.dir, 'private', 'admin.sock') }),
    ];
    if (this.options.health !== false) this.healthServer = await startSpireHealthServer(() => this.health);
    const poll = this.options.pollMs ?? 100;
    if (poll > 0) {
      this.timer = setInterval(() => {
        if (!this.inFlight) void this.notify();
      }, poll);
      this.timer.unref();
    }
  }

  /** Agent down: closes servers (cancelling streams) and removes the sockets. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.servers) s.close();
    this.servers = [];
    await this.healthServer?.close();
    this.healthServer = undefined;
  }

  /** stop() and remove the socket directory if this agent created it. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsDir) removeDir(this.dir);
  }

  /** Sets which workloads a Workload API caller is attested as ('all' = every served workload). */
  async attestCallersAs(workloadIds: readonly string[] | 'all'): Promise<void> {
    this.caller = workloadIds;
    await this.notify(true);
  }

  /**
   * Looks at the world now: renews the agent SVID if due, and when anything a stream could send
   * changed (a rotation, the bundle, the node's workloads), lets every stream compare and push.
   * `force` wakes the streams even when nothing changed (they still send only on a new key).
   * Calls run one after another; the poll skips a beat while one is running.
   */
  notify(force = false): Promise<void> {
    const run = this.queue.then(async () => {
      this.inFlight = true;
      try {
        if ((await this.look()) || force) for (const l of [...this.listeners]) l();
      } finally {
        this.inFlight = false;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The agent as the server's ListAgents reports it (its current SVID; attestation type, ban and
   * can_reattest from the world). The server fake hides it while the world holds no record. Its
   * selectors are what k8s_psat reports of a node and agent pod, the agent pod's
   * spire-healer.io/simulated label included (SIMULATED_MARKER: the agent belongs to the simulated fleet).
   */
  agentRecord(): SpireAgentRecord {
    const svid = this.requireSvid();
    const att = this.attestation();
    return {
      spiffeId: this.agentId,
      attestationType: att?.attestationType ?? 'k8s_psat',
      serialHex: svid.serialHex,
      svidExpiresAtMs: svid.notAfterMs,
      selectors: [
        { type: 'k8s_psat', value: agentNodeSelector(this.node) },
        ...Object.entries(SIMULATED_LABELS).map(([k, v]) => ({ type: 'k8s_psat', value: `agent_pod_label:${k}:${v}` })),
      ],
      banned: att?.banned ?? false,
      canReattest: att?.canReattest ?? true,
      agentVersion: '1.11.0-sim',
    };
  }

  /** @inheritdoc */
  callerIdentities(): readonly ServedIdentity[] {
    return this.callers;
  }

  /** @inheritdoc */
  allIdentities(): readonly ServedIdentity[] {
    return this.state.all();
  }

  /** @inheritdoc */
  membershipVersion(): number {
    return this.state.membershipVersion();
  }

  /** @inheritdoc */
  bundle(): ServedBundle {
    return this.state.bundle();
  }

  /** @inheritdoc */
  subscribe(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => {
      this.listeners.delete(onChange);
    };
  }

  /** @inheritdoc */
  recordSent(): void {
    this.sent += 1;
  }

  /** @inheritdoc */
  debugInfo(): object {
    const svid = this.requireSvid();
    const now = this.world.now();
    const count = this.state.all().length;
    return {
      svid_chain: [
        {
          id: { trust_domain: this.world.trustDomain, path: this.agentId.slice(this.trustDomainId.length) },
          expires_at: String(Math.floor(svid.notAfterMs / 1_000)),
          subject: 'O=SPIRE, C=US',
        },
      ],
      uptime: Math.max(0, Math.floor((now - this.startedAtMs) / 1_000)),
      svids_count: count,
      last_sync_success: String(Math.floor((this.worldAgent()?.lastSyncSuccessMs ?? this.startedAtMs) / 1_000)),
      cached_x509_svids_count: count,
      cached_jwt_svids_count: 0,
      cached_svidstore_x509_svids_count: 0,
    };
  }

  /** Renews the own SVID if due, refreshes the served state; true when streams may have something new. */
  private async look(): Promise<boolean> {
    await this.renewAgentSvid();
    const changed = this.state.refresh();
    const all = this.state.all();
    const caller = this.caller;
    const callers = caller === 'all' ? all : all.filter((i) => caller.includes(i.workloadId));
    const callersChanged = callers.length !== this.callers.length || callers.some((c, i) => c !== this.callers[i]);
    this.callers = callers;
    return changed || callersChanged;
  }

  /** The world's view of this node's agent; null while the world has no workload on the node. */
  private worldAgent(): SimAgentState | null {
    return this.world.nodes().includes(this.node) ? this.world.agent(this.node) : null;
  }

  /** The world's record of this agent at the server; null while the world has no workload on the node. */
  private attestation(): SimAgentAttestation | null {
    return this.world.nodes().includes(this.node) ? this.world.agentAttestation(this.node) : null;
  }

  /**
   * Mints the first SVID at once, and a new one after each re-attestation (an evicted agent first
   * tries to attest again); renews at half-life only while the world says the agent syncs and
   * the server holds its record.
   */
  private async renewAgentSvid(): Promise<void> {
    const now = this.world.now();
    const ttl = this.options.agentSvidTtlMs ?? 3_600_000;
    let att = this.attestation();
    if (att !== null && !att.attested && !att.banned && (await this.world.reattestAgent(this.node))) att = this.attestation();
    const generation = att?.generation ?? 0;
    if (this.svid !== undefined && generation === this.svidGeneration) {
      const a = this.worldAgent();
      const syncing = a === null || (a.up && a.syncing && att?.attested !== false);
      if (!syncing || now < this.svid.notBeforeMs + ttl / 2) return;
    }
    this.svid = (await mintSvid({ ca: this.world.ca, spiffeId: this.agentId, issuedAtMs: now, ttlMs: ttl })).cert;
    this.svidGeneration = generation;
  }

  private requireSvid(): MintedCert {
    if (this.svid === undefined) throw new Error('fake agent not started');
    return this.svid;
  }
}
