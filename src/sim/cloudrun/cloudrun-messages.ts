/**
 * The subset of google.cloud.run.v2 / google.longrunning messages the fake reads and writes, in
 * @grpc/proto-loader's object form (camelCase fields, int64 and enums as strings). Decoded
 * messages carry more fields than declared here; the fake passes them through untouched.
 */

/** google.protobuf.Timestamp with seconds as an int64 string. */
export interface TimestampMessage {
  seconds: string;
  nanos: number;
}

/** google.cloud.run.v2.Condition.State names. */
export type ConditionState =
  'STATE_UNSPECIFIED' | 'CONDITION_PENDING' | 'CONDITION_RECONCILING' | 'CONDITION_FAILED' | 'CONDITION_SUCCEEDED';

/** google.cloud.run.v2.Condition.RevisionReason names (what a failing revision reports). */
export type RevisionReason =
  | 'PENDING'
  | 'RESERVE'
  | 'RETIRED'
  | 'RETIRING'
  | 'RECREATING'
  | 'HEALTH_CHECK_CONTAINER_ERROR'
  | 'CUSTOMIZED_PATH_RESPONSE_PENDING'
  | 'MIN_INSTANCES_NOT_PROVISIONED'
  | 'ACTIVE_REVISION_LIMIT_REACHED'
  | 'NO_DEPLOYMENT'
  | 'HEALTH_CHECK_SKIPPED'
  | 'MIN_INSTANCES_WARMING';

/**
 * google.cloud.run.v2.Condition. `reason` (CommonReason) and `revisionReason` are members of the
 * `reasons` oneof: set at most one.
 */
export interface ConditionMessage {
  type: string;
  state: ConditionState;
  message: string;
  lastTransitionTime: TimestampMessage | null;
  severity: 'SEVERITY_UNSPECIFIED' | 'ERROR' | 'WARNING' | 'INFO';
  reason?: string;
  revisionReason?: RevisionReason;
}

/** google.cloud.run.v2.EnvVar (value form only). */
export interface EnvVarMessage {
  name: string;
  value?: string;
}

/** google.cloud.run.v2.Container, the fields the fake validates. */
export interface ContainerMessage {
  name: string;
  image: string;
  env?: EnvVarMessage[];
  [field: string]: unknown;
}

/** google.cloud.run.v2.RevisionTemplate, the fields the fake reads. */
export interface RevisionTemplateMessage {
  revision: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  containers: ContainerMessage[];
  [field: string]: unknown;
}

/** google.cloud.run.v2.TrafficTargetStatus. */
export interface TrafficStatusMessage {
  type: string;
  revision: string;
  percent: number;
}

/** google.cloud.run.v2.Service, the fields the fake reads or sets. */
export interface ServiceMessage {
  name: string;
  uid?: string;
  generation?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  createTime?: TimestampMessage | null;
  updateTime?: TimestampMessage | null;
  template?: RevisionTemplateMessage | null;
  traffic?: unknown[];
  observedGeneration?: string;
  terminalCondition?: ConditionMessage | null;
  conditions?: ConditionMessage[];
  latestReadyRevision?: string;
  latestCreatedRevision?: string;
  trafficStatuses?: TrafficStatusMessage[];
  uri?: string;
  urls?: string[];
  reconciling?: boolean;
  etag?: string;
  [field: string]: unknown;
}

/**
 * google.protobuf.Any. protobufjs' well-known-type wrapper keeps the proto field name `type_url`
 * even with keepCase off; a camelCase `typeUrl` would be dropped silently on the wire.
 */
export interface AnyMessage {
  type_url: string;
  value: Buffer;
}

/** google.longrunning.Operation: `response` and `error` are the `result` oneof. */
export interface OperationMessage {
  name: string;
  metadata: AnyMessage | null;
  done: boolean;
  response?: AnyMessage;
  error?: { code: number; message: string; details: AnyMessage[] };
}

/** google.cloud.run.v2.UpdateServiceRequest. */
export interface UpdateServiceRequestMessage {
  service: ServiceMessage | null;
  updateMask: { paths: string[] } | null;
  validateOnly: boolean;
  allowMissing: boolean;
}

/** google.cloud.run.v2.ListServicesRequest. */
export interface ListServicesRequestMessage {
  parent: string;
  pageSize: number;
  pageToken: string;
  showDeleted: boolean;
}

/** google.cloud.run.v2.ListServicesResponse. */
export interface ListServicesResponseMessage {
  services: ServiceMessage[];
  nextPageToken: string;
  unreachable: string[];
}

/** A request carrying one resource name (GetServiceRequest, GetOperationRequest). */
export interface NameRequestMessage {
  name: string;
}

const SERVICE_NAME = /^projects\/([a-z0-9][a-z0-9-]*)\/locations\/([a-z0-9-]+)\/services\/([a-z]([-a-z0-9]{0,47}[a-z0-9])?)$/;
const PARENT_NAME = /^projects\/([a-z0-9][a-z0-9-]*)\/locations\/([a-z0-9-]+)$/;

/** The parts of projects/<p>/locations/<l>/services/<s>, or undefined when `name` is not one. */
export function parseServiceName(name: string): { project: string; location: string; service: string } | undefined {
  const m = SERVICE_NAME.exec(name);
  if (m?.[1] === undefined || m[2] === undefined || m[3] === undefined) return undefined;
  return { project: m[1], location: m[2], service: m[3] };
}

/** The parts of projects/<p>/locations/<l>, or undefined. */
export function parseParentName(parent: string): { project: string; location: string } | undefined {
  const m = PARENT_NAME.exec(parent);
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  return { project: m[1], location: m[2] };
}

/** Epoch ms → google.protobuf.Timestamp. */
export function timestampOf(ms: number): TimestampMessage {
  const whole = Math.floor(ms / 1000);
  return { seconds: String(whole), nanos: Math.round(ms - whole * 1000) * 1_000_000 };
}
