/** Binding fake SPIRE gRPC servers to unix sockets or loopback TCP, and tearing them down. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';

/** A running fake gRPC server and the SPIFFE endpoint URI it listens on. */
export interface BoundServer {
  readonly server: grpc.Server;
  /** `unix:///abs/path` or `tcp://127.0.0.1:port`. */
  readonly endpoint: string;
  /** Stops at once (open streams are cancelled) and removes the socket file. */
  close(): void;
}

/** Where a fake listens: a unix socket path, or loopback TCP (port 0 picks one). */
export type Listen = { readonly socketPath: string } | { readonly tcpPort: number };

/** A fresh private temp directory for sockets; the caller removes it with removeDir. */
export function makeSocketDir(prefix = 'spire-sim-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Removes a directory tree, ignoring a missing one. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Binds `server` (services already added) and resolves with its endpoint. */
export async function bindServer(server: grpc.Server, listen: Listen): Promise<BoundServer> {
  const isUnix = 'socketPath' in listen;
  if (isUnix) rmSync(listen.socketPath, { force: true });
  const target = isUnix ? `unix://${listen.socketPath}` : `127.0.0.1:${listen.tcpPort}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (err === null) resolve(p);
      else reject(err);
    });
  });
  const endpoint = isUnix ? `unix://${listen.socketPath}` : `tcp://127.0.0.1:${port}`;
  return {
    server,
    endpoint,
    close(): void {
      server.forceShutdown();
      if (isUnix) rmSync(listen.socketPath, { force: true });
    },
  };
}

/** A gRPC error status for handlers. */
export function statusError(code: grpc.status, details: string): Partial<grpc.StatusObject> {
  return { code, details, metadata: new grpc.Metadata() };
}
