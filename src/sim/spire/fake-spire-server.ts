/**
 * A fake SPIRE server over the real protocols, reading a SimWorld: Agent (ListAgents with real
 * paging and filters, GetAgent, from the `agents` callback), Bundle (GetBundle: every authority of
 * `world.trustBundle()` and its sequence number), LocalAuthority (GetX509AuthorityState from
 * `world.authorityState()`: active/prepared/old, authority_id = SKID hex) and the /live /ready
 * listener.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import { spireServices } from '../../adapters/spire/spire-protos.js';
import type { SpireAgentRecord } from '../../ports/spire.port.js';
// Side effect: reflect-metadata and the crypto provider @peculiar/x509 needs.
import '../certs.js';
import type { SimCa } from '../certs.js';
import type { SimWorld } from '../world.js';
import { bindServer, makeSocketDir, removeDir, statusError, type BoundServer } from './grpc-endpoint.js';
import { startSpireHealthServer, type HealthDetails, type SpireHealthServer } from './health-http.js';

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

interface Sel { type: string; value: string }
interface ListRequest {
  filter: { by_attestation_type: string; by_selector_match: { selectors: Sel[]; match: string } | null; by_banned: { value: boolean } | null; by_can_reattest: { value: boolean } | null } | null;
  page_size: number;
  page_token: string;
}

function toWireAgent(a: SpireAgentRecord): object {
  const m = /^spiffe:\/\/([^/]+)(\/.*)?$/.exec(a.spiffeId);
  return {
    id: { trust_domain: m?.[1] ?? '', path: m?.[2] ?? '' }, attestation_type: a.attestationType, x509svid_serial_number: a.serialHex,
    x509svid_expires_at: String(Math.floor(a.svidExpiresAtMs / 1_000)), selectors: a.selectors.map((s) => ({ ...s })),
    banned: a.banned, can_reattest: a.canReattest, agent_version: a.agentVersion,
  };
}

function selectorMatch(agent: readonly Sel[], want: readonly Sel[], mode: string): boolean {
  const has = new Set(agent.map((s) => `${s.type}:${s.value}`));
  const wants = new Set(want.map((s) => `${s.type}:${s.value}`));
  const wantInHas = [...wants].every((k) => has.has(k));
  const hasInWant = [...has].every((k) => wants.has(k));
  switch (mode) {
    case 'MATCH_SUBSET': return hasInWant;
    case 'MATCH_SUPERSET': return wantInHas;
    case 'MATCH_ANY': return [...wants].some((k) => has.has(k));
    default: return wantInHas && hasInWant;
  }
}

/** Agents passing a ListAgents filter. */
export function filterAgents(agents: readonly SpireAgentRecord[], f: ListRequest['filter']): SpireAgentRecord[] {
  if (f === null) return [...agents];
  return agents.filter((a) =>
    (f.by_attestation_type === '' || a.attestationType === f.by_attestation_type)
    && (f.by_banned === null || a.banned === f.by_banned.value)
    && (f.by_can_reattest === null || a.canReattest === f.by_can_reattest.value)
    && (f.by_selector_match === null || selectorMatch(a.selectors, f.by_selector_match.selectors, f.by_selector_match.match)));
}

/** The fake server. Create, then `start()`; `dispose()` when done. */
export class FakeSpireServer {
  private bound: BoundServer | undefined;
  private healthServer: SpireHealthServer | undefined;
  private readonly dir: string;
  private readonly ownsDir: boolean;
  /** Health details per subsystem; set an entry to make /ready (and /live) answer 500. */
  readonly health: HealthDetails = { server: {}, 'server.ca': {}, 'server.ca.rotator': {}, 'catalog.datastore': {} };

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
      ListAgents: (call: grpc.ServerUnaryCall<ListRequest, object>, cb: grpc.sendUnaryData<object>) => { this.listAgents(call.request, cb); },
      GetAgent: (call: grpc.ServerUnaryCall<{ id: { trust_domain: string; path: string } | null }, object>, cb: grpc.sendUnaryData<object>) => {
        const id = call.request.id;
        if (id === null || id.trust_domain === '') { cb(statusError(grpc.status.INVALID_ARGUMENT, 'invalid agent ID: request must specify SPIFFE ID')); return; }
        const want = `spiffe://${id.trust_domain}${id.path}`;
        const agent = this.options.agents().find((a) => a.spiffeId === want);
        if (agent === undefined) cb(statusError(grpc.status.NOT_FOUND, 'agent not found'));
        else cb(null, toWireAgent(agent));
      },
      DeleteAgent: (_call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        cb(statusError(grpc.status.UNIMPLEMENTED, 'fake SPIRE server: DeleteAgent is not simulated yet'));
      },
    });
    server.addService(svc.serverBundle.definition, {
      GetBundle: (_call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        const w = this.options.world;
        const tb = w.trustBundle();
        cb(null, {
          trust_domain: w.trustDomain, x509_authorities: tb.certs.map((c) => ({ asn1: Buffer.from(c.der), tainted: false })), jwt_authorities: [],
          refresh_hint: String(this.options.refreshHintSeconds ?? 300), sequence_number: String(tb.sequenceNumber),
        });
      },
    });
    server.addService(svc.localAuthority.definition, {
      GetX509AuthorityState: (_call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        const s = this.options.world.authorityState();
        cb(null, { active: authoritySlot(s.active), prepared: authoritySlot(s.prepared), old: authoritySlot(s.old) });
      },
    });
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

  private listAgents(req: ListRequest, cb: grpc.sendUnaryData<object>): void {
    if (req.page_size < 0) { cb(statusError(grpc.status.INVALID_ARGUMENT, 'page size must not be negative')); return; }
    const offset = req.page_token === '' ? 0 : Number(req.page_token);
    if (!Number.isInteger(offset) || offset < 0 || !/^\d*$/.test(req.page_token)) {
      cb(statusError(grpc.status.INVALID_ARGUMENT, `could not parse token "${req.page_token}"`));
      return;
    }
    const all = filterAgents(this.options.agents(), req.filter).sort((a, b) => a.spiffeId.localeCompare(b.spiffeId));
    const size = req.page_size === 0 ? (this.options.defaultPageSize ?? 50) : req.page_size;
    const page = all.slice(offset, offset + size);
    const next = offset + size < all.length ? String(offset + size) : '';
    cb(null, { agents: page.map(toWireAgent), next_page_token: next });
  }
}

const skids = new WeakMap<Uint8Array, string>();

/** Hex SKID of a CA certificate: SPIRE's authority_id (cached per certificate). */
export function subjectKeyIdHex(der: Uint8Array): string {
  const cached = skids.get(der);
  if (cached !== undefined) return cached;
  const ext = new x509.X509Certificate(der).getExtension(x509.SubjectKeyIdentifierExtension);
  if (ext === null) throw new Error('CA certificate has no subjectKeyIdentifier');
  const id = ext.keyId.toLowerCase();
  skids.set(der, id);
  return id;
}

/** A LocalAuthority AuthorityState for a CA, null for an empty slot. */
function authoritySlot(ca: SimCa | null): object | null {
  if (ca === null) return null;
  return { authority_id: subjectKeyIdHex(ca.cert.der), expires_at: String(Math.floor(ca.cert.notAfterMs / 1_000)), upstream_authority_subject_key_id: '' };
}
