/** Serving a fake Google API (Cloud Run, Secret Manager) over plaintext gRPC on loopback, and stopping it. */
import { ServerCredentials, type Server } from '@grpc/grpc-js';

/** Binds `server` (services already added) to 127.0.0.1 at `port` (0: an ephemeral one) and resolves the bound port. */
export function bindLoopback(server: Server, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, bound) => {
      if (err === null) resolve(bound);
      else reject(err);
    });
  });
}

/** Stops accepting calls; waits up to `graceMs` for in-flight ones, then drops the connections. */
export function shutdownGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
