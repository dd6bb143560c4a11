import { createRequire } from 'node:module';
import path from 'node:path';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import type { ServiceMessage } from './cloudrun-messages.js';

/** The Any type URL of a google.cloud.run.v2.Service (Operation.response and .metadata). */
export const SERVICE_TYPE_URL = 'type.googleapis.com/google.cloud.run.v2.Service';

/** The two gRPC services the fake serves, plus a Service codec built from the same descriptors. */
export interface CloudRunProtos {
  readonly services: ServiceDefinition;
  readonly operations: ServiceDefinition;
  /** Service message → protobuf bytes (for Any.value). */
  encodeService(service: ServiceMessage): Buffer;
  /** Any Service-shaped object → the canonical decoded form (camelCase, defaults filled, int64 as string). */
  canonicalService(service: object): ServiceMessage;
}

/** Where the protos shipped in @google-cloud/run and in its google-gax (google/api, longrunning, protobuf) live. */
export function cloudRunProtoDirs(): { readonly runDir: string; readonly gaxDir: string } {
  const req = createRequire(import.meta.url);
  const runDir = path.join(path.dirname(req.resolve('@google-cloud/run/package.json')), 'build', 'protos');
  const gaxMain = createRequire(req.resolve('@google-cloud/run')).resolve('google-gax');
  const gaxDir = path.join(gaxMain.slice(0, gaxMain.lastIndexOf(`${path.sep}build${path.sep}`)), 'build', 'protos');
  return { runDir, gaxDir };
}

let cached: CloudRunProtos | undefined;

function serviceDefinition(def: PackageDefinition, name: string): ServiceDefinition {
  const d = def[name];
  if (d === undefined || 'format' in d) throw new Error(`proto service ${name} not found in the @google-cloud/run protos`);
  return d;
}

/**
 * Loads (once per process) google.cloud.run.v2.Services and google.longrunning.Operations from
 * the .proto files shipped in @google-cloud/run and google-gax. Options match what a
 * grpc-js client of the real API sees: longs and enums as strings, defaults and oneofs set.
 */
export function loadCloudRunProtos(): CloudRunProtos {
  if (cached !== undefined) return cached;
  const { runDir, gaxDir } = cloudRunProtoDirs();
  const def = loadSync(['google/cloud/run/v2/service.proto', 'google/longrunning/operations.proto'], {
    includeDirs: [runDir, gaxDir],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const services = serviceDefinition(def, 'google.cloud.run.v2.Services');
  const operations = serviceDefinition(def, 'google.longrunning.Operations');
  const getService = services.GetService;
  const updateService = services.UpdateService;
  if (getService === undefined || updateService === undefined) throw new Error('Services.GetService/UpdateService missing from the protos');
  cached = {
    services,
    operations,
    encodeService: (service) => getService.responseSerialize(service),
    canonicalService: (service) => {
      const bytes = updateService.requestSerialize({ service });
      const req = updateService.requestDeserialize(bytes) as { service?: ServiceMessage };
      if (req.service === undefined) throw new Error('Service did not survive a protobuf round trip');
      return req.service;
    },
  };
  return cached;
}
