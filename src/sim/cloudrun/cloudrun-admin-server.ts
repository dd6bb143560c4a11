import {
  Server,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { SimCloudRunMethod } from './cloudrun-call-faults.js';
import type {
  ListServicesRequestMessage,
  ListServicesResponseMessage,
  NameRequestMessage,
  OperationMessage,
  ServiceMessage,
  UpdateServiceRequestMessage,
} from './cloudrun-messages.js';
import { bindLoopback, shutdownGracefully } from '../grpc-loopback.js';
import { loadCloudRunProtos } from './cloudrun-protos.js';
import type { SimCloudRun } from './cloudrun-state.js';
import { CloudRunStatusError } from './cloudrun-status-error.js';
import { errorMessage } from '../../knowledge/error-text.js';

/** One gRPC method implementation: request in, response out, or a CloudRunStatusError. */
type Handler<Req, Res> = (req: Req) => Res;

/** A response the wrapped serializer sends verbatim: how the `garbage` transport fault reaches the wire. */
class RawResponse {
  constructor(readonly bytes: Buffer) {}
}

/** Not a protobuf message: field 31, wire type 7 (invalid), so any decoder rejects it. */
const GARBAGE = Buffer.from([0xff, 0x01, 0xde, 0xad, 0xbe, 0xef]);

/** `def` with serializers that pass a RawResponse through untouched. */
function withRawResponses(def: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(def).map(([method, m]) => [
      method,
      { ...m, responseSerialize: (v: unknown) => (v instanceof RawResponse ? v.bytes : m.responseSerialize(v)) },
    ]),
  );
}

/**
 * Wraps a synchronous handler: a queued transport fault for `method` answers first; a
 * CloudRunStatusError becomes its status, anything else INTERNAL.
 */
function unary<Req, Res>(state: SimCloudRun, method: SimCloudRunMethod, handler: Handler<Req, Res>) {
  return (call: ServerUnaryCall<Req, Res | RawResponse>, callback: sendUnaryData<Res | RawResponse>): void => {
    const fault = state.takeCallFault(method);
    if (fault?.kind === 'unavailable') {
      callback({ code: status.UNAVAILABLE, details: fault.message ?? 'The service is currently unavailable.' });
      return;
    }
    if (fault?.kind === 'garbage') {
      callback(null, new RawResponse(GARBAGE));
      return;
    }
    if (fault?.kind === 'empty') {
      callback(null, new RawResponse(Buffer.alloc(0)));
      return;
    }
    try {
      callback(null, handler(call.request));
    } catch (e: unknown) {
      if (e instanceof CloudRunStatusError) callback({ code: e.code, details: e.message });
      else callback({ code: status.INTERNAL, details: `simulator error: ${errorMessage(e)}` });
    }
  };
}

/**
 * A fake Cloud Run Admin API v2 on 127.0.0.1 (plaintext gRPC), serving the protos shipped in
 * @google-cloud/run: google.cloud.run.v2.Services GetService, ListServices and UpdateService, and
 * google.longrunning.Operations GetOperation and WaitOperation (which, as the API allows, answers
 * at once with the current state), over the state in a SimCloudRun. Every other method answers
 * UNIMPLEMENTED. Transport faults queued with `SimCloudRun.failCalls` are applied here, on the
 * wire. Point the real ServicesClient at `endpoint()` with insecure credentials.
 */
export class SimCloudRunAdminServer {
  private readonly server = new Server();
  private port: number | null = null;

  /** A server for `state`; call start() to listen. */
  constructor(private readonly state: SimCloudRun) {
    const protos = loadCloudRunProtos();
    const services: UntypedServiceImplementation = {
      GetService: unary<NameRequestMessage, ServiceMessage>(state, 'GetService', (req) => state.getService(req.name)),
      ListServices: unary<ListServicesRequestMessage, ListServicesResponseMessage>(state, 'ListServices', (req) =>
        state.listServices(req.parent, req.pageSize, req.pageToken),
      ),
      UpdateService: unary<UpdateServiceRequestMessage, OperationMessage>(state, 'UpdateService', (req) => state.updateService(req)),
    };
    const operations: UntypedServiceImplementation = {
      GetOperation: unary<NameRequestMessage, OperationMessage>(state, 'GetOperation', (req) => state.getOperation(req.name)),
      WaitOperation: unary<NameRequestMessage, OperationMessage>(state, 'WaitOperation', (req) => state.getOperation(req.name)),
    };
    this.server.addService(withRawResponses(protos.services), services);
    this.server.addService(withRawResponses(protos.operations), operations);
  }

  /** The fake's state (services, faults). */
  get sim(): SimCloudRun {
    return this.state;
  }

  /** Listens on 127.0.0.1 at an ephemeral port (or `port`). */
  async start(port = 0): Promise<{ port: number }> {
    this.port = await bindLoopback(this.server, port);
    return { port: this.port };
  }

  /** Host and port the server listens on. Throws before start(). */
  endpoint(): { readonly host: string; readonly port: number } {
    if (this.port === null) throw new Error('SimCloudRunAdminServer.endpoint called before start()');
    return { host: '127.0.0.1', port: this.port };
  }

  /** Stops accepting calls; waits up to `graceMs` for in-flight ones, then drops the connections. */
  async close(graceMs = 1000): Promise<void> {
    if (this.port === null) return;
    this.port = null;
    await shutdownGracefully(this.server, graceMs);
  }
}
