/**
 * Loads the SPIRE/SPIFFE .proto subset shipped in ./protos with @grpc/proto-loader.
 * Options are fixed for the whole project: keepCase (snake_case fields as on the wire), int64 as
 * decimal strings, enums as names, defaults filled in, bytes as Buffer.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Directory holding the .proto files (include root). */
export const SPIRE_PROTO_DIR = fileURLToPath(new URL('./protos/', import.meta.url));

/** The proto-loader options every SPIRE client and fake uses. */
export const SPIRE_PROTO_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [SPIRE_PROTO_DIR],
};

const FILES = [
  'workload.proto',
  'spire/api/agent/delegatedidentity/v1/delegatedidentity.proto',
  'spire/api/agent/debug/v1/debug.proto',
  'spire/api/server/agent/v1/agent.proto',
  'spire/api/server/bundle/v1/bundle.proto',
  'spire/api/server/localauthority/v1/localauthority.proto',
];

/** Fully-qualified gRPC service names, exactly as SPIRE serves them. */
export const SPIRE_SERVICES = {
  workload: 'SpiffeWorkloadAPI',
  delegatedIdentity: 'spire.api.agent.delegatedidentity.v1.DelegatedIdentity',
  agentDebug: 'spire.agent.debug.v1.Debug',
  serverAgent: 'spire.api.server.agent.v1.Agent',
  serverBundle: 'spire.api.server.bundle.v1.Bundle',
  localAuthority: 'spire.api.server.localauthority.v1.LocalAuthority',
} as const;

/** One of the services above. */
export type SpireServiceKey = keyof typeof SPIRE_SERVICES;

/** Client constructor plus service definition of one loaded service. */
export interface LoadedService {
  readonly definition: grpc.ServiceDefinition;
  readonly Client: grpc.ServiceClientConstructor;
}

let loaded: Record<SpireServiceKey, LoadedService> | undefined;
let packageDefinition: protoLoader.PackageDefinition | undefined;

/** The proto-loader package definition (loaded once, synchronously). */
export function spirePackageDefinition(): protoLoader.PackageDefinition {
  packageDefinition ??= protoLoader.loadSync(FILES, SPIRE_PROTO_OPTIONS);
  return packageDefinition;
}

/** Every SPIRE service this project speaks, loaded once. */
export function spireServices(): Record<SpireServiceKey, LoadedService> {
  if (loaded !== undefined) return loaded;
  const pkg = grpc.loadPackageDefinition(spirePackageDefinition());
  const get = (fqn: string): LoadedService => {
    let node: unknown = pkg;
    for (const part of fqn.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
    if (typeof node !== 'function' || !('service' in node)) throw new Error(`spire protos: service ${fqn} not found`);
    const Client = node as grpc.ServiceClientConstructor;
    return { definition: Client.service, Client };
  };
  loaded = {
    workload: get(SPIRE_SERVICES.workload),
    delegatedIdentity: get(SPIRE_SERVICES.delegatedIdentity),
    agentDebug: get(SPIRE_SERVICES.agentDebug),
    serverAgent: get(SPIRE_SERVICES.serverAgent),
    serverBundle: get(SPIRE_SERVICES.serverBundle),
    localAuthority: get(SPIRE_SERVICES.localAuthority),
  };
  return loaded;
}

/** The method definition of `service`/`method` (serializers, path), for raw calls and fakes. */
export function spireMethod(service: SpireServiceKey, method: string): grpc.MethodDefinition<object, object> {
  const def = spireServices()[service].definition[method];
  if (def === undefined) throw new Error(`spire protos: ${SPIRE_SERVICES[service]} has no method ${method}`);
  return def as grpc.MethodDefinition<object, object>;
}
