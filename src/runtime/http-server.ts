import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DaemonMetrics } from '../ports/metrics.port.js';

/** What /healthz reports: healthy while every stage loop is running. */
export type HealthCheck = () => Promise<{ readonly ok: boolean; readonly detail: Record<string, unknown> }>;

/** The daemon's HTTP endpoints: /metrics (Prometheus), /healthz (liveness + stage states). */
export class DaemonHttpServer {
  private server: Server | null = null;

  constructor(
    private readonly metrics: DaemonMetrics,
    private readonly health: HealthCheck,
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
      if (path === '/healthz' || path === '/readyz') {
        this.health().then(
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
