import { createRequire } from 'node:module';
import path from 'node:path';
import {
  Server,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { timestampOf } from '../cloudrun/cloudrun-messages.js';
import { bindLoopback, shutdownGracefully } from '../grpc-loopback.js';
import { SecretStatusError, type SimSecretManager, type SimSecretMethod } from './secret-manager-state.js';
import { errorMessage } from '../../knowledge/error-text.js';

let cached: ServiceDefinition | undefined;

/**
 * google.cloud.secretmanager.v1.SecretManagerService from the .proto files shipped in
 * @google-cloud/secret-manager (imports from its google-gax), loaded once per process with the
 * options a grpc-js client of the real API sees.
 */
function secretManagerService(): ServiceDefinition {
  if (cached !== undefined) return cached;
  const req = createRequire(import.meta.url);
  const smDir = path.join(path.dirname(path.dirname(path.dirname(req.resolve('@google-cloud/secret-manager')))), 'build', 'protos');
  const gaxMain = createRequire(req.resolve('@google-cloud/secret-manager')).resolve('google-gax');
  const gaxDir = path.join(gaxMain.slice(0, gaxMain.lastIndexOf(`${path.sep}build${path.sep}`)), 'build', 'protos');
  const def = loadSync(['google/cloud/secretmanager/v1/service.proto'], {
    includeDirs: [smDir, gaxDir],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const d = def['google.cloud.secretmanager.v1.SecretManagerService'];
  if (d === undefined || 'format' in d)
    throw new Error('google.cloud.secretmanager.v1.SecretManagerService not found in the @google-cloud/secret-manager protos');
  cached = d;
  return d;
}

/** Wraps a synchronous handler: a queued call fault answers first; a SecretStatusError becomes its status, anything else INTERNAL. */
function unary<Req, Res>(state: SimSecretManager, method: SimSecretMethod, handler: (req: Req) => Res) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const fault = state.takeCallFault(method);
    if (fault !== undefined) {
      callback({ code: fault.code, details: fault.message ?? `simulated ${status[fault.code]}` });
      return;
    }
    try {
      callback(null, handler(call.request));
    } catch (e: unknown) {
      if (e instanceof SecretStatusError) callback({ code: e.code, details: e.message });
      else callback({ code: status.INTERNAL, details: `simulator error: ${errorMessage(e)}` });
    }
  };
}

interface NameRequest {
  name: string;
}
interface AddRequest {
  parent: string;
  payload: { data: Buffer } | null;
}

/**
 * A fake Secret Manager API v1 on 127.0.0.1 (plaintext gRPC) over a SimSecretManager:
 * GetSecret, GetSecretVersion, AccessSecretVersion and AddSecretVersion; every other method
 * answers UNIMPLEMENTED. Point the real SecretManagerServiceClient at it with insecure credentials.
 */
export class SimSecretManagerServer {
  private readonly server = new Server();
  private port: number | null = null;

  /** A server for `state`; call start() to listen. */
  constructor(readonly state: SimSecretManager) {
    const version = (v: { name: string; createTimeMs: number; state: string }) => ({
      name: v.name,
      createTime: timestampOf(v.createTimeMs),
      state: v.state,
    });
    const impl: UntypedServiceImplementation = {
      GetSecret: unary<NameRequest, object>(state, 'GetSecret', (req) => {
        const s = state.getSecret(req.name);
        return { name: s.name, labels: s.labels, createTime: timestampOf(s.createTimeMs), replication: { automatic: {} } };
      }),
      GetSecretVersion: unary<NameRequest, object>(state, 'GetSecretVersion', (req) => version(state.getVersion(req.name))),
      AccessSecretVersion: unary<NameRequest, object>(state, 'AccessSecretVersion', (req) => {
        const a = state.access(req.name);
        return { name: a.name, payload: { data: a.data } };
      }),
      AddSecretVersion: unary<AddRequest, object>(state, 'AddSecretVersion', (req) => {
        if (req.payload === null) throw new SecretStatusError(status.INVALID_ARGUMENT, 'payload is required');
        return version(state.addVersion(req.parent, req.payload.data));
      }),
    };
    this.server.addService(secretManagerService(), impl);
  }

  /** Listens on 127.0.0.1 at an ephemeral port (or `port`). */
  async start(port = 0): Promise<{ port: number }> {
    this.port = await bindLoopback(this.server, port);
    return { port: this.port };
  }

  /** Stops accepting calls; waits up to `graceMs` for in-flight ones, then drops the connections. */
  async close(graceMs = 1000): Promise<void> {
    if (this.port === null) return;
    this.port = null;
    await shutdownGracefully(this.server, graceMs);
  }
}
