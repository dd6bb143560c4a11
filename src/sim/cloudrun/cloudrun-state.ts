import { status } from '@grpc/grpc-js';
import { SimCallFaults, type SimCallFault, type SimCloudRunMethod } from './cloudrun-call-faults.js';
import {
  parseParentName,
  parseServiceName,
  timestampOf,
  type AnyMessage,
  type ListServicesResponseMessage,
  type OperationMessage,
  type RevisionReason,
  type ServiceMessage,
  type UpdateServiceRequestMessage,
} from './cloudrun-messages.js';
import { decodePageToken, encodePageToken } from './cloudrun-page-token.js';
import { loadCloudRunProtos, SERVICE_TYPE_URL, type CloudRunProtos } from './cloudrun-protos.js';
import {
  digest,
  markFailed,
  markNotReady,
  markReady,
  markReconciling,
  revisionId,
  STATUS_FIELDS,
  touch,
} from './cloudrun-service-status.js';
import { CloudRunStatusError, invalidArgument, serviceNotFound } from './cloudrun-status-error.js';
import { applyUpdate } from './cloudrun-update.js';

/** How the fake's clock and rollouts behave. */
export interface SimCloudRunOptions {
  /** The clock every rollout reads (default Date.now). */
  readonly now?: () => number;
  /** How long a new revision takes to become ready (or to fail), in ms (default 1000). */
  readonly readyDelayMs?: number;
}

/** A service to create: its resource name and the parts of the Service a seed chooses. */
export interface SimCloudRunServiceSpec {
  /** projects/<p>/locations/<l>/services/<s> */
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** RevisionTemplate in proto-loader object form (camelCase); at least one container with an image. */
  readonly template: SimRevisionTemplateSpec;
}

/** The parts of a RevisionTemplate a seed sets; other fields take proto defaults. */
export interface SimRevisionTemplateSpec {
  readonly annotations?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly containers: readonly {
    readonly name: string;
    readonly image: string;
    readonly env?: readonly { readonly name: string; readonly value: string }[];
    readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
    readonly args?: readonly string[];
    readonly volumeMounts?: readonly { readonly name: string; readonly mountPath: string }[];
  }[];
  /** Volumes (a Secret Manager secret mount: `{ name, secret: { secret, items: [{ path, version }] } }`). */
  readonly volumes?: readonly {
    readonly name: string;
    readonly secret?: { readonly secret: string; readonly items?: readonly { readonly path: string; readonly version: string }[] };
  }[];
}

/** `fail`: the revision ends CONDITION_FAILED after the delay; `stuck`: it reconciles forever. */
export type SimRevisionFaultMode = 'fail' | 'stuck';

/** Options of failRevisions. */
export interface SimRevisionFaultOptions {
  /** The failing revision's revision_reason (default HEALTH_CHECK_CONTAINER_ERROR). */
  readonly reason?: RevisionReason;
  /** Default `fail`. */
  readonly mode?: SimRevisionFaultMode;
  /** How many new revisions fail (default: every one until clearRevisionFaults). */
  readonly count?: number;
}

/** A revision as the fake tracks it: `superseded` = replaced by a newer template before it settled. */
export interface SimRevision {
  /** Full resource name …/services/<s>/revisions/<id>. */
  readonly name: string;
  readonly state: 'reconciling' | 'ready' | 'failed' | 'superseded';
}

type RevisionState = SimRevision['state'];
interface Rollout {
  readonly generation: number;
  readonly revision: string;
  readonly readyAt: number;
  readonly failure: { readonly message: string; readonly reason: RevisionReason } | null;
}
interface Outcome {
  readonly generation: number;
  readonly failure: string | null;
  readonly snapshot: ServiceMessage;
}
interface Entry {
  readonly service: ServiceMessage;
  generation: number;
  readonly revisions: Map<string, RevisionState>;
  rollout: Rollout | null;
  fault: { readonly mode: SimRevisionFaultMode; readonly message: string; readonly reason: RevisionReason; remaining: number } | null;
  /** Set while setServiceNotReady is in force: the status fields it replaced (null if a rollout was running). */
  notReady: { readonly saved: Partial<ServiceMessage> | null } | null;
  readonly outcomes: Outcome[];
}
/** An operation either completed at once (no new revision: `immediate`) or waits for its generation's rollout. */
interface OperationEntry {
  readonly name: string;
  readonly service: string;
  readonly generation: number;
  readonly immediate: ServiceMessage | null;
}

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const DEFAULT_REASON: RevisionReason = 'HEALTH_CHECK_CONTAINER_ERROR';

/**
 * The state behind the fake Cloud Run Admin API v2: services, their revisions and long-running
 * operations. Time is read from `now()` on every call, so a rollout settles lazily when a read
 * (get, list, operation poll) happens at or after its ready time: deterministic under an injected
 * clock, and there are no timers to clean up.
 *
 * Rules: a template change bumps `generation`, creates revision "<svc>-000NN-xyz" (latestCreated)
 * and sets reconciling with terminal condition Ready=CONDITION_RECONCILING; after readyDelayMs it
 * becomes latestReady with Ready=CONDITION_SUCCEEDED, or, under a `fail` fault, Ready=CONDITION_FAILED
 * with latestReady left on the previous revision. observedGeneration catches up when it settles.
 */
export class SimCloudRun {
  private readonly entries = new Map<string, Entry>();
  private readonly operations = new Map<string, OperationEntry>();
  private readonly callFaults = new SimCallFaults();
  private readonly protos: CloudRunProtos = loadCloudRunProtos();
  private readonly now: () => number;
  private readonly readyDelayMs: number;

  /** An empty fake; add services with createService or seedCloudRun. */
  constructor(options: SimCloudRunOptions = {}) {
    this.now = options.now ?? Date.now;
    this.readyDelayMs = options.readyDelayMs ?? 1000;
    if (!(this.readyDelayMs >= 0)) throw new Error(`readyDelayMs must be >= 0, got ${this.readyDelayMs}`);
  }

  /** Creates a ready service at generation 1 with revision 00001. Throws for a bad name, template or duplicate. */
  createService(spec: SimCloudRunServiceSpec): ServiceMessage {
    const parts = parseServiceName(spec.name);
    if (parts === undefined)
      throw invalidArgument(`invalid service name "${spec.name}": expected projects/<project>/locations/<location>/services/<service>`);
    if (spec.template.containers.length === 0 || spec.template.containers.some((c) => c.image === '')) {
      throw invalidArgument(`service "${spec.name}": template needs at least one container, each with an image`);
    }
    if (this.entries.has(spec.name)) throw new CloudRunStatusError(status.ALREADY_EXISTS, `service "${spec.name}" already exists`);
    const now = this.now();
    const projectNumber = String(parseInt(digest(parts.project).slice(0, 10), 16))
      .padStart(12, '1')
      .slice(0, 12);
    const service = this.protos.canonicalService({
      name: spec.name,
      labels: { ...spec.labels },
      annotations: { ...spec.annotations },
      template: spec.template,
      traffic: [{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 }],
    });
    const uid = digest('uid', spec.name);
    service.uid = `${uid.slice(0, 8)}-${uid.slice(8, 12)}-${uid.slice(12, 16)}-${uid.slice(16, 20)}-${uid.slice(20, 32)}`;
    service.createTime = timestampOf(now);
    service.uri = `https://${parts.service}-${projectNumber}.${parts.location}.run.app`;
    service.urls = [service.uri];
    const entry: Entry = { service, generation: 1, revisions: new Map(), rollout: null, fault: null, notReady: null, outcomes: [] };
    const revision = this.nextRevision(entry, service.template?.revision ?? '');
    markReconciling(service, 1, revision, now);
    markReady(service, 1, revision, now);
    entry.revisions.set(revision, 'ready');
    touch(service, now);
    this.entries.set(spec.name, entry);
    return structuredClone(service);
  }

  /** The service as GetService would return it now, or throws CloudRunStatusError (INVALID_ARGUMENT / NOT_FOUND). */
  getService(name: string): ServiceMessage {
    return structuredClone(this.settled(this.entry(name)).service);
  }

  /** One page of services under parent, sorted by name; pageToken is opaque and bound to the parent. */
  listServices(parent: string, pageSize: number, pageToken: string): ListServicesResponseMessage {
    if (parseParentName(parent) === undefined)
      throw invalidArgument(`invalid parent "${parent}": expected projects/<project>/locations/<location>`);
    if (!Number.isInteger(pageSize) || pageSize < 0) throw invalidArgument(`page_size must be >= 0, got ${pageSize}`);
    const size = Math.min(pageSize === 0 ? DEFAULT_PAGE_SIZE : pageSize, MAX_PAGE_SIZE);
    const offset = pageToken === '' ? 0 : decodePageToken(parent, pageToken);
    const prefix = `${parent}/services/`;
    const names = [...this.entries.keys()].filter((n) => n.startsWith(prefix)).sort();
    const page = names.slice(offset, offset + size);
    const next = offset + size < names.length ? encodePageToken(parent, offset + size) : '';
    return { services: page.map((n) => this.getService(n)), nextPageToken: next, unreachable: [] };
  }

  /** Applies UpdateServiceRequest and returns the Operation tracking the rollout. */
  updateService(req: UpdateServiceRequestMessage): OperationMessage {
    const name = req.service?.name ?? '';
    if (req.service === null || name === '') throw invalidArgument('service.name is required');
    const parts = parseServiceName(name);
    if (parts === undefined)
      throw invalidArgument(`invalid service name "${name}": expected projects/<project>/locations/<location>/services/<service>`);
    const entry = this.entries.get(name);
    if (entry === undefined) {
      if (req.allowMissing)
        throw new CloudRunStatusError(status.UNIMPLEMENTED, 'allow_missing: creating a service through UpdateService is not simulated');
      throw serviceNotFound(parts.project, parts.location, parts.service);
    }
    this.settled(entry);
    const change = applyUpdate(entry.service, req, this.protos.canonicalService.bind(this.protos), (r) =>
      entry.revisions.has(`${name}/revisions/${r}`),
    );
    const now = this.now();
    const opName = `projects/${parts.project}/locations/${parts.location}/operations/${digest('op', name, this.operations.size, now).slice(0, 36)}`;
    if (req.validateOnly) return { name: opName, done: true, metadata: null, response: this.any(change.service) };
    Object.assign(entry.service, change.fields);
    if (change.specChanged) entry.generation += 1;
    if (change.templateChanged) this.startRollout(entry, now);
    else if (change.specChanged) {
      entry.service.generation = String(entry.generation);
      if (entry.rollout === null) entry.service.observedGeneration = String(entry.generation);
    }
    touch(entry.service, now);
    const immediate = change.templateChanged ? null : structuredClone(entry.service);
    const op: OperationEntry = { name: opName, service: name, generation: entry.generation, immediate };
    this.operations.set(opName, op);
    return this.operationView(op);
  }

  /** GetOperation: done once the rollout of the operation's generation settled; NOT_FOUND for unknown names. */
  getOperation(name: string): OperationMessage {
    const op = this.operations.get(name);
    if (op === undefined) throw new CloudRunStatusError(status.NOT_FOUND, `operation "${name}" not found`);
    return this.operationView(op);
  }

  /**
   * Fault: new revisions of the service do not become ready, until clearRevisionFaults (or for
   * `count` revisions). `fail`: after the delay the rollout ends with terminal condition
   * CONDITION_FAILED whose message includes `message`, ConfigurationsReady carries revision_reason
   * `reason`, the operation finishes with that error, and latestReadyRevision stays on the old
   * revision; `stuck`: it keeps reconciling and the operation never finishes.
   */
  failRevisions(name: string, message: string, options: SimRevisionFaultOptions = {}): void {
    const entry = this.entry(name);
    const count = options.count ?? Number.POSITIVE_INFINITY;
    if (!(count >= 1)) throw new Error(`count must be >= 1, got ${count}`);
    entry.fault = { mode: options.mode ?? 'fail', message, reason: options.reason ?? DEFAULT_REASON, remaining: count };
  }

  /** Ends a failRevisions fault: later revisions become ready again (one already rolling out keeps its fate). */
  clearRevisionFaults(name: string): void {
    this.entry(name).fault = null;
  }

  /**
   * Fault "Cloud Run revision not ready": the serving revision (latestReadyRevision) stops being
   * ready, so the terminal condition turns Ready=CONDITION_FAILED with `message` and revision
   * reason `reason`. The next successful rollout (a new revision) heals it, as does
   * clearServiceNotReady. While a rollout is running, the rollout's outcome decides what is shown.
   */
  setServiceNotReady(name: string, message: string, reason: RevisionReason = DEFAULT_REASON): void {
    const entry = this.settled(this.entry(name));
    const serving = entry.service.latestReadyRevision ?? '';
    if (entry.revisions.has(serving)) entry.revisions.set(serving, 'failed');
    if (entry.rollout !== null) {
      entry.notReady = { saved: null };
      return;
    }
    const saved = entry.notReady?.saved ?? structuredClone(Object.fromEntries(STATUS_FIELDS.map((f) => [f, entry.service[f]])));
    entry.notReady = { saved };
    const now = this.now();
    markNotReady(entry.service, message, reason, now);
    touch(entry.service, now);
  }

  /** Ends setServiceNotReady: the serving revision is ready again and the status it replaced is restored. */
  clearServiceNotReady(name: string): void {
    const entry = this.settled(this.entry(name));
    const notReady = entry.notReady;
    if (notReady === null) return;
    entry.notReady = null;
    const serving = entry.service.latestReadyRevision ?? '';
    if (entry.revisions.get(serving) === 'failed') entry.revisions.set(serving, 'ready');
    if (notReady.saved !== null) {
      Object.assign(entry.service, notReady.saved);
      touch(entry.service, this.now());
    }
  }

  /** Transport fault: the next `count` calls (of `fault.method`, default any) answer `kind` instead (see SimCallFaultKind). */
  failCalls(fault: SimCallFault): void {
    this.callFaults.add(fault);
  }

  /** Drops every queued transport fault. */
  clearCallFaults(): void {
    this.callFaults.clear();
  }

  /** Used by the admin server: the transport fault this call suffers, if any (consumes it). */
  takeCallFault(method: SimCloudRunMethod): SimCallFault | undefined {
    return this.callFaults.take(method);
  }

  /**
   * A deploy by someone else (e.g. `gcloud run deploy`): sets a template annotation, which creates a
   * new revision exactly as UpdateService would. Returns the operation name.
   */
  deployRevision(name: string, annotation: { readonly key: string; readonly value: string }): string {
    const current = this.getService(name);
    const template = current.template ?? { revision: '', labels: {}, annotations: {}, containers: [] };
    const service: ServiceMessage = {
      ...current,
      template: { ...template, revision: '', annotations: { ...template.annotations, [annotation.key]: annotation.value } },
    };
    return this.updateService({ service, updateMask: null, validateOnly: false, allowMissing: false }).name;
  }

  /** Every service name, sorted. */
  serviceNames(): string[] {
    return [...this.entries.keys()].sort();
  }

  /** The service's latestReadyRevision as of now ('' when none), without copying the service. */
  servingRevision(name: string): string {
    return this.settled(this.entry(name)).service.latestReadyRevision ?? '';
  }

  /** The service's revisions in creation order, with their state as of now. */
  revisions(name: string): SimRevision[] {
    return [...this.settled(this.entry(name)).revisions].map(([revision, state]) => ({ name: revision, state }));
  }

  private startRollout(entry: Entry, now: number): void {
    const previous = entry.rollout;
    if (previous !== null) entry.revisions.set(previous.revision, 'superseded');
    const revision = this.nextRevision(entry, entry.service.template?.revision ?? '');
    entry.revisions.set(revision, 'reconciling');
    const fault = entry.fault;
    let failure: Rollout['failure'] = null;
    let readyAt = now + this.readyDelayMs;
    if (fault !== null) {
      if (fault.mode === 'stuck') readyAt = Number.POSITIVE_INFINITY;
      else failure = { message: fault.message, reason: fault.reason };
      fault.remaining -= 1;
      if (fault.remaining <= 0) entry.fault = null;
    }
    entry.rollout = { generation: entry.generation, revision, readyAt, failure };
    markReconciling(entry.service, entry.generation, revision, now);
  }

  private nextRevision(entry: Entry, requested: string): string {
    const service = entry.service.name.slice(entry.service.name.lastIndexOf('/') + 1);
    const id = requested === '' ? revisionId(service, entry.revisions.size + 1) : requested;
    return `${entry.service.name}/revisions/${id}`;
  }

  private settled(entry: Entry): Entry {
    const r = entry.rollout;
    if (r === null || this.now() < r.readyAt) return entry;
    const at = r.readyAt;
    // The controller has seen every generation by now (a later metadata/traffic change included).
    let failure: string | null = null;
    if (r.failure === null) markReady(entry.service, entry.generation, r.revision, at);
    else failure = markFailed(entry.service, entry.generation, r.revision, r.failure.message, r.failure.reason, at);
    entry.revisions.set(r.revision, failure === null ? 'ready' : 'failed');
    touch(entry.service, at);
    entry.rollout = null;
    entry.notReady = null;
    entry.outcomes.push({ generation: r.generation, failure, snapshot: structuredClone(entry.service) });
    return entry;
  }

  private operationView(op: OperationEntry): OperationMessage {
    const entry = this.settled(this.entry(op.service));
    const metadata = this.any(entry.service);
    if (op.immediate !== null) return { name: op.name, done: true, metadata, response: this.any(op.immediate) };
    const outcome = entry.outcomes.find((o) => o.generation >= op.generation);
    if (outcome === undefined) return { name: op.name, done: false, metadata };
    if (outcome.failure === null) return { name: op.name, done: true, metadata, response: this.any(outcome.snapshot) };
    return { name: op.name, done: true, metadata, error: { code: status.FAILED_PRECONDITION, message: outcome.failure, details: [] } };
  }

  private any(service: ServiceMessage): AnyMessage {
    return { type_url: SERVICE_TYPE_URL, value: this.protos.encodeService(service) };
  }

  private entry(name: string): Entry {
    const parts = parseServiceName(name);
    if (parts === undefined)
      throw invalidArgument(`invalid service name "${name}": expected projects/<project>/locations/<location>/services/<service>`);
    const entry = this.entries.get(name);
    if (entry === undefined) throw serviceNotFound(parts.project, parts.location, parts.service);
    return entry;
  }
}
