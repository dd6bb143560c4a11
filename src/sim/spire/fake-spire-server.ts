/**
 * A fake SPIRE server over the real protocols, reading a SimWorld: Agent (ListAgents with real
 * paging and filters, GetAgent, DeleteAgent), Bundle (GetBundle: every authority of
 * `world.trustBundle()`, tainted flags and its sequence number), LocalAuthority (state, prepare,
 * activate, taint, revoke; local-authority.service.ts) and the /live /ready listener.
 *
 * Agent records come from the `agents` callback. A record whose `agent_node_name:<node>` selector
 * names a node of the world is backed by the world's datastore: DeleteAgent is
 * `world.evictAgent(node)` (the fake agent then re-attests when it can), and the record is hidden
 * while the world holds none. Other records (test fixtures) are deleted in this server only.
 * There is no BanAgent.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { spireServices } from '../../adapters/spire/spire-protos.js';
import type { SpireAgentRecord } from '../../ports/spire.port.js';
import type { SimWorld } from '../world.js';
import { nodeFromAgentSelectors } from '../../knowledge/spire-agent-node.js';
import { bindServer, makeSocketDir, removeDir, statusError, type BoundServer } from './grpc-endpoint.js';
import { startSpireHealthServer, type HealthDetails, type SpireHealthServer } from './health-http.js';
import { localAuthorityHandlers } from './local-authority.service.js';

export { subjectKeyIdHex } from './local-authority.service.js';

/** How a fake server is set up. */
export interface FakeSpireServerOptions {
  readonly world: SimWorld;
  /** The attested agents, read on every call (e.g. `() => agents.map((a) => a.agentRecord())`). */
  readonly agents: () => readonly SpireAgentRecord[];
  /** Listen on loopback TCP instead of `<socketDir>/private/api.sock`. */
  readonly tcp?: boolean;
  readonly socketDir?: string;
  /** Page size used when a request says 0 (default 50). */
  readonly defaultPageSize?: number;
  /** refresh_hint of the bundle in seconds (default 300). */
  readonly refreshHintSeconds?: number;
}

interface Sel {
  type: string;
  value: string;
}
interface WireId {
  trust_domain: string;
  path: string;
}
interface ListRequest {
  filter: {
    by_attestation_type: string;
    by_selector_match: { selectors: Sel[]; match: string } | null;
    by_banned: { value: boolean } | null;
    by_can_reattest: { value: boolean } | null;
  } | null;
  page_size: number;
  page_token: string;
}

function toWireAgent(a: SpireAgentRecord): object {
  const m = /^spiffe:\/\/([^/]+)(\/.*)?$/.exec(a.spiffeId);
  return {
    id: { trust_domain: m?.[1] ?? '', path: m?.[2] ?? '' },
    attestation_type: a.attestationType,
    x509svid_serial_number: a.serialHex,
    x509svid_expires_at: String(Math.floor(a.svidExpiresAtMs / 1_000)),
    selectors: a.selectors.map((s) => ({ ...s })),
    banned: a.banned,
    can_reattest: a.canReattest,
    agent_version: a.agentVersion,
  };
}

function selectorMatch(agent: readonly Sel[], want: readonly Sel[], mode: string): boolean {
  const has = new Set(agent.map((s) => `${s.type}:${s.value}`));
  const wants = new Set(want.map((s) => `${s.type}:${s.value}`));
  const wantInHas = [...wants].every((k) => has.has(k));
  const hasInWant = [...has].every((k) => wants.has(k));
  switch (mode) {
    case 'MATCH_SUBSET':
      return hasInWant;
    case 'MATCH_SUPERSET':
      return wantInHas;
    case 'MATCH_ANY':
      return [...wants].some((k) => has.has(k));
    default:
      return wantInHas && hasInWant;
  }
}

/** Agents passing a ListAgents filter. */
export function filterAgents(agents: readonly SpireAgentRecord[], f: ListRequest['filter']): SpireAgentRecord[] {
  if (f === null) return [...agents];
  return agents.filter(
    (a) =>
      (f.by_attestation_type === '' || a.attestationType === f.by_attestation_type) &&
      (f.by_banned === null || a.banned === f.by_banned.value) &&
      (f.by_can_reattest === null || a.canReattest === f.by_can_reattest.value) &&
      (f.by_selector_match === null || selectorMatch(a.selectors, f.by_selector_match.selectors, f.by_selector_match.match)),
  );
}

/** The fake server. Create, then `start()`; `dispose()` when done. */
export class FakeSpireServer {
  private bound: BoundServer | undefined;
  private healthServer: SpireHealthServer | undefined;
  private readonly dir: string;
  private readonly ownsDir: boolean;
  /** Health details per subsystem; set an entry to make /ready (and /live) answer 500. */
  readonly health: HealthDetails = { server: {}, 'server.ca': {}, 'server.ca.rotator': {}, 'catalog.datastore': {} };
  /** SPIFFE IDs of deleted records that the world does not back. */
  private readonly deleted = new Set<string>();

  /** See FakeSpireServerOptions. */
  constructor(private readonly options: FakeSpireServerOptions) {
    this.ownsDir = options.socketDir === undefined && options.tcp !== true;
    this.dir = options.socketDir ?? (options.tcp === true ? '' : makeSocketDir('spire-server-'));
  }

  /** The API endpoint (unix:// or tcp://); valid after start(). */
  get endpoint(): string {
    if (this.bound === undefined) throw new Error('fake SPIRE server not started');
    return this.bound.endpoint;
  }

  /** Base URL of the health listener; valid after start(). */
  get healthUrl(): string {
    if (this.healthServer === undefined) throw new Error('fake SPIRE server not started');
    return this.healthServer.url;
  }

  /** Binds the API and health listeners. Idempotent. */
  async start(): Promise<void> {
    if (this.bound !== undefined) return;
    const svc = spireServices();
    const server = new grpc.Server();
    server.addService(svc.serverAgent.definition, {
      ListAgents: (call: grpc.ServerUnaryCall<ListRequest, object>, cb: grpc.sendUnaryData<object>) => {
        this.listAgents(call.request, cb);
      },
      GetAgent: (call: grpc.ServerUnaryCall<{ id: WireId | null }, object>, cb: grpc.sendUnaryData<object>) => {
        const agent = this.findAgent(call.request.id, cb);
        if (agent !== undefined) cb(null, toWireAgent(agent));
      },
      DeleteAgent: (call: grpc.ServerUnaryCall<{ id: WireId | null }, object>, cb: grpc.sendUnaryData<object>) => {
        const agent = this.findAgent(call.request.id, cb);
        if (agent === undefined) return;
        const node = this.worldNodeOf(agent);
        if (node === null) this.deleted.add(agent.spiffeId);
        else this.options.world.evictAgent(node);
        cb(null, {});
      },
    });
    server.addService(svc.serverBundle.definition, {
      GetBundle: (_call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        const w = this.options.world;
        const tb = w.trustBundle();
        cb(null, {
          trust_domain: w.trustDomain,
          x509_authorities: tb.certs.map((c) => ({ asn1: Buffer.from(c.der), tainted: w.isAuthorityTainted(c) })),
          jwt_authorities: [],
          refresh_hint: String(this.options.refreshHintSeconds ?? 300),
          sequence_number: String(tb.sequenceNumber),
        });
      },
    });
    server.addService(svc.localAuthority.definition, localAuthorityHandlers(this.options.world));
    this.bound = await bindServer(server, this.options.tcp === true ? { tcpPort: 0 } : { socketPath: join(this.dir, 'api.sock') });
    this.healthServer = await startSpireHealthServer(() => this.health);
  }

  /** Closes both listeners. */
  async stop(): Promise<void> {
    this.bound?.close();
    this.bound = undefined;
    await this.healthServer?.close();
    this.healthServer = undefined;
  }

  /** stop() and remove the socket directory if this server created it. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsDir) removeDir(this.dir);
  }

  /** The records the server holds now: the callback's, minus deleted ones (world-backed or not). */
  private records(): SpireAgentRecord[] {
    return this.options.agents().filter((a) => {
      const node = this.worldNodeOf(a);
      if (node === null) return !this.deleted.has(a.spiffeId);
      const att = this.options.world.agentAttestation(node);
      return att.attested || att.banned;
    });
  }

  /** The world node behind a record (its agent_node_name selector), or null. */
  private worldNodeOf(a: SpireAgentRecord): string | null {
    const node = nodeFromAgentSelectors(a.selectors);
    return node !== null && this.options.world.nodes().includes(node) ? node : null;
  }

  /** The record `id` names; answers INVALID_ARGUMENT / NOT_FOUND itself and returns undefined then. */
  private findAgent(id: WireId | null, cb: grpc.sendUnaryData<object>): SpireAgentRecord | undefined {
    if (id === null || id.trust_domain === '') {
      cb(statusError(grpc.status.INVALID_ARGUMENT, 'invalid agent ID: request must specify SPIFFE ID'));
      return undefined;
    }
    const want = `spiffe://${id.trust_domain}${id.path}`;
    const agent = this.records().find((a) => a.spiffeId === want);
    if (agent === undefined) cb(statusError(grpc.status.NOT_FOUND, 'agent not found'));
    return agent;
  }

  private listAgents(req: ListRequest, cb: grpc.sendUnaryData<object>): void {
    if (req.page_size < 0) {
      cb(statusError(grpc.status.INVALID_ARGUMENT, 'page size must not be negative'));
      return;
    }
    const offset = req.page_token === '' ? 0 : Number(req.page_token);
    if (!Number.isInteger(offset) || offset < 0 || !/^\d*$/.test(req.page_token)) {
      cb(statusError(grpc.status.INVALID_ARGUMENT, `could not parse token "${req.page_token}"`));
      return;
    }
    const all = filterAgents(this.records(), req.filter).sort((a, b) => a.spiffeId.localeCompare(b.spiffeId));
    const size = req.page_size === 0 ? (this.options.defaultPageSize ?? 50) : req.page_size;
    const page = all.slice(offset, offset + size);
    const next = offset + size < all.length ? String(offset + size) : '';
    cb(null, { agents: page.map(toWireAgent), next_page_token: next });
  }
}
