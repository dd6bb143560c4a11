import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DaemonMetrics } from '../ports/metrics.port.js';

/** What /healthz reports: healthy while every stage loop is running, with each stage's state (the detailed view). */
export type HealthCheck = () => Promise<{ readonly ok: boolean; readonly detail: Record<string, unknown> }>;

/** What /readyz reports: ready to heal (Redis reachable, no stage stalled), or why not. */
export type ReadinessCheck = () => Promise<{ readonly ready: boolean; readonly reasons: readonly string[] }>;

/**
 * The daemon's HTTP endpoints: /metrics (Prometheus); /livez (the process and its event loop
 * answer: 200 whenever it can answer at all, whatever Redis does); /readyz (200 when ready to heal,
 * else 503 with the reasons); /healthz (the detailed view: stage states, Redis, readiness; 200
 * while every stage actor runs).
 */
export class DaemonHttpServer {
  private server: Server | null = null;
  private readonly startedAt = Date.now();

  constructor(
    private readonly metrics: DaemonMetrics,
    private readonly checks: { readonly health: HealthCheck; readonly readiness: ReadinessCheck },
  ) {}

  /** Listens on "host:port" (port 0 picks a free one); resolves with the bound address. */
  async listen(listen: string): Promise<{ host: string; port: number }> {
    const idx = listen.lastIndexOf(':');
    const host = listen.slice(0, idx).replace(/^\[|\]$/g, '') || '0.0.0.0';
    const port = Number(listen.slice(idx + 1));
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405, { Allow: 'GET' }).end('method not allowed\n');
        return;
      }
      if (path === '/metrics') {
        this.metrics.render().then(
          ({ contentType, body }) => res.writeHead(200, { 'Content-Type': contentType }).end(body),
          (e: unknown) => res.writeHead(500).end(`metrics failed: ${String(e)}\n`),
        );
        return;
      }
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      };
      if (path === '/livez') {
        json(200, { ok: true, uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000) });
        return;
      }
      if (path === '/readyz') {
        this.checks.readiness().then(
          (r) => {
            json(r.ready ? 200 : 503, r);
          },
          (e: unknown) => {
            json(503, { ready: false, reasons: [`readiness check failed: ${String(e)}`] });
          },
        );
        return;
      }
      if (path === '/healthz') {
        this.checks.health().then(
          (h) => res.writeHead(h.ok ? 200 : 503, { 'Content-Type': 'application/json' }).end(JSON.stringify(h)),
          (e: unknown) => res.writeHead(503, { 'Content-Type': 'application/json' }).end(JSON.stringify({ ok: false, error: String(e) })),
        );
        return;
      }
      res.writeHead(404).end('not found\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        resolve();
      });
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s === null) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) =>
      s.close(() => {
        resolve();
      }),
    );
  }
}
