/**
 * SPIRE's HTTP health listener (wire facts §4): GET /live and /ready answer 200 when healthy and
 * 500 when not, Content-Type application/json, with a JSON map subsystem → details ({} = OK).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Subsystem → details; a subsystem is healthy when its details are empty. */
export type HealthDetails = Record<string, Record<string, string>>;

/** A running health listener. */
export interface SpireHealthServer {
  /** Base URL, e.g. http://127.0.0.1:38123. */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves /live and /ready from `details()` on 127.0.0.1 (port 0 picks one). */
export async function startSpireHealthServer(details: () => HealthDetails, port = 0): Promise<SpireHealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/live' && path !== '/ready')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    const body = details();
    const healthy = Object.values(body).every((d) => Object.keys(d).length === 0);
    res.writeHead(healthy ? 200 : 500, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const addr = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
