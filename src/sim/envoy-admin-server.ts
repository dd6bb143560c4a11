import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { renderCerts, renderReady, renderServerInfo, renderStats, type AdminResponse, type EnvoyAdminView } from './envoy-admin-views.js';
import type { SimWorld } from './world.js';

/** Path prefix under which each workload's Envoy admin root lives: /envoy/<encodeURIComponent(id)>. */
export const ENVOY_ADMIN_PREFIX = '/envoy/';

type ReadEndpoint = (v: EnvoyAdminView, query: URLSearchParams) => AdminResponse;

/** Read-only endpoints (GET or POST, as Envoy accepts both for non-mutating handlers). */
const READ_ENDPOINTS: Readonly<Record<string, ReadEndpoint>> = {
  '/certs': (v) => renderCerts(v),
  '/stats': renderStats,
  '/ready': (v) => renderReady(v),
  '/server_info': (v) => renderServerInfo(v),
};

/** Mutating endpoints: POST only; a GET gets 400 as Envoy's admin does. */
const MUTATING_ENDPOINTS = new Set(['/quitquitquit']);

/**
 * One real HTTP server on 127.0.0.1 serving the admin API of every Envoy in a SimWorld.
 * `adminUrl(id)` is that Envoy's admin root, so `${adminUrl(id)}/certs` behaves like
 * http://127.0.0.1:9901/certs on a sidecar.
 *
 * Answers: unknown workload → 404; unknown endpoint → 404; GET on a mutation → 400;
 * POST /quitquitquit → 200 "OK\n" then the Envoy is down. While an Envoy is restarting every
 * one of its endpoints answers 503 "envoy is restarting". (A real Envoy refuses connections
 * while down; one shared listener cannot refuse per path, and adapters treat both as
 * "unreachable".) The server renders the world as it is; time moves only when the world ticks.
 */
export class SimEnvoyAdminServer {
  private readonly server: Server;
  private port: number | null = null;

  /** A server for `world`; call start() to listen. */
  constructor(private readonly world: SimWorld) {
    this.server = createServer((req, res) => {
      this.handle(req, res);
    });
  }

  /** Listens on 127.0.0.1 at an ephemeral port (or `port` when given). */
  async start(port = 0): Promise<{ port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    return { port: this.port };
  }

  /** Admin root of a workload's Envoy, e.g. http://127.0.0.1:40123/envoy/shop%2Fweb-0. Throws before start(). */
  adminUrl(workloadId: string): string {
    if (this.port === null) throw new Error('SimEnvoyAdminServer.adminUrl called before start()');
    return `http://127.0.0.1:${this.port}${ENVOY_ADMIN_PREFIX}${encodeURIComponent(workloadId)}`;
  }

  /** Stops listening and drops open (keep-alive) connections. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve, reject) => {
      this.server.close((err) => {
        if (err === undefined) resolve();
        else reject(err);
      });
    });
    this.server.closeAllConnections();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const reply = (r: AdminResponse): void => {
      res.writeHead(r.status, { 'content-type': r.contentType, 'cache-control': 'no-cache, max-age=0' });
      res.end(r.body);
    };
    const text = (status: number, body: string): void => {
      reply({ status, contentType: 'text/plain', body });
    };
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    if (!url.pathname.startsWith(ENVOY_ADMIN_PREFIX)) {
      text(404, `not an Envoy admin path; use ${ENVOY_ADMIN_PREFIX}<workload id>/<endpoint>\n`);
      return;
    }
    const rest = url.pathname.slice(ENVOY_ADMIN_PREFIX.length);
    const slash = rest.indexOf('/');
    const rawId = slash === -1 ? rest : rest.slice(0, slash);
    const endpoint = slash === -1 ? '/' : rest.slice(slash);
    let id: string;
    try {
      id = decodeURIComponent(rawId);
    } catch {
      text(400, `malformed workload id in path\n`);
      return;
    }
    const workload = this.world.workload(id);
    if (workload === undefined) {
      text(404, `no simulated envoy for workload "${id}"\n`);
      return;
    }
    const envoy = this.world.envoy(id);
    if (envoy.state === 'restarting') {
      text(503, 'envoy is restarting\n');
      return;
    }
    const method = req.method ?? 'GET';
    if (MUTATING_ENDPOINTS.has(endpoint)) {
      if (method !== 'POST') {
        text(400, `admin path "${endpoint}" mutates state, method=${method} rather than POST\n`);
        return;
      }
      this.world.quitEnvoy(id);
      text(200, 'OK\n');
      return;
    }
    const render = READ_ENDPOINTS[endpoint];
    if (render === undefined) {
      text(404, `invalid path. admin commands are: ${[...Object.keys(READ_ENDPOINTS), ...MUTATING_ENDPOINTS].sort().join(' ')}\n`);
      return;
    }
    reply(render({ workload, envoy, now: this.world.now() }, url.searchParams));
  }
}
