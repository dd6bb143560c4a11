/** google.cloud.run.v2.Condition.State names. */
export type CloudRunConditionState =
  'STATE_UNSPECIFIED' | 'CONDITION_PENDING' | 'CONDITION_RECONCILING' | 'CONDITION_FAILED' | 'CONDITION_SUCCEEDED';

/** A Cloud Run condition as plain data. */
export interface CloudRunCondition {
  /** "Ready", "RoutesReady", "ConfigurationsReady", … */
  readonly type: string;
  readonly state: CloudRunConditionState;
  /** Human-readable detail, '' when none. */
  readonly message: string;
  /** Whichever of reason / revisionReason / executionReason is set (e.g. "REVISION_FAILED"), '' when none. */
  readonly reason: string;
  /** Epoch ms of lastTransitionTime, or null when absent. */
  readonly lastTransitionMs: number | null;
}

/** A container of the service's revision template, reduced. */
export interface CloudRunContainer {
  readonly name: string;
  readonly image: string;
}

/**
 * A Secret Manager secret mounted as a volume of the revision template (Volume.secret). Cloud Run
 * reads the file from Secret Manager: an item of version `latest` follows the newest version, an
 * item pinned to a number (or an alias) does not.
 */
export interface CloudRunSecretVolume {
  /** Volume name. */
  readonly volume: string;
  /** As written in the template: "<secret>" (same project) or "projects/<project>/secrets/<secret>". */
  readonly secret: string;
  /** VersionToPath items; empty: one file named after the secret, at the latest version. */
  readonly items: readonly { readonly path: string; readonly version: string }[];
}

/**
 * A Cloud Run service (v2) as plain data: int64s as numbers, enums as names, no vendor types.
 * `ready` is Cloud Run's definition of a finished, successful rollout: not reconciling,
 * observedGeneration == generation, latestReadyRevision == latestCreatedRevision and the terminal
 * condition CONDITION_SUCCEEDED. `notReady` says which of those fail (empty when ready).
 */
export interface CloudRunService {
  /** projects/<project>/locations/<location>/services/<service> */
  readonly name: string;
  readonly project: string;
  readonly location: string;
  readonly serviceId: string;
  readonly uid: string;
  readonly uri: string;
  readonly etag: string;
  readonly generation: number;
  readonly observedGeneration: number;
  readonly reconciling: boolean;
  /** Full revision resource names (…/services/<s>/revisions/<r>), '' when none. */
  readonly latestCreatedRevision: string;
  readonly latestReadyRevision: string;
  readonly terminalCondition: CloudRunCondition | null;
  readonly conditions: readonly CloudRunCondition[];
  readonly ready: boolean;
  /** One sentence per failed readiness criterion, including the terminal condition's message. */
  readonly notReady: readonly string[];
  /** Service labels (playbooks match on them). */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly templateAnnotations: Readonly<Record<string, string>>;
  readonly containers: readonly CloudRunContainer[];
  /** The template's secret volumes (other volume kinds are left out). */
  readonly secretVolumes: readonly CloudRunSecretVolume[];
  /** Epoch ms of updateTime, or null when absent. */
  readonly updateTimeMs: number | null;
}

/**
 * Why a Cloud Run call failed (from its gRPC status). `rollout_failed`: the update's operation
 * finished with an error; `resource_exhausted`: quota or rate limit; `rpc`: any other status.
 */
export type CloudRunFailure =
  | 'not_found'
  | 'invalid_argument'
  | 'permission_denied'
  | 'unauthenticated'
  | 'failed_precondition'
  | 'unavailable'
  | 'timeout'
  | 'aborted'
  | 'resource_exhausted'
  | 'malformed'
  | 'rollout_failed'
  | 'rpc';

/** What a CloudRunPort call rejects with: an Error (a ClassifiedError) naming the call, carrying why it failed. */
export interface CloudRunPortError extends Error {
  readonly failure: CloudRunFailure;
}

/** The outcome of forcing a new revision: the operation's name and the service once it finished. */
export interface CloudRunRollout {
  readonly operation: string;
  readonly service: CloudRunService;
}

/**
 * The Cloud Run Admin API v2, read side plus the one write remediation needs. Every method
 * rejects with a ClassifiedError whose message names the endpoint, the method, the resource and the gRPC
 * code (and carries a `failure: CloudRunFailure`, from which the adapter decides its retry class);
 * a payload that is not a valid Service is `malformed`. No method retries internally: the caller's
 * loop (the remediation queue, the monitor's next poll) is the retry.
 */
export interface CloudRunPort {
  /** Every service in projects/<project>/locations/<location>, following page tokens, sorted as returned. */
  listServices(project: string, location: string, signal?: AbortSignal): Promise<CloudRunService[]>;
  /** One service by full resource name. */
  getService(name: string, signal?: AbortSignal): Promise<CloudRunService>;
  /**
   * Sets `template.annotations[key] = value` (forcing a new revision when it changes) and waits for
   * the long-running operation. Resolves with the service as read right after the operation
   * succeeded (normally ready; check `ready`); rejects with `rollout_failed` (message from the
   * operation) or `timeout` when it does not finish in time. An aborted `signal` stops the wait
   * (`timeout` for AbortSignal.timeout, else `rpc`), not the rollout itself.
   */
  updateTemplateAnnotation(name: string, key: string, value: string, signal?: AbortSignal): Promise<CloudRunRollout>;
  /**
   * One template change (a new revision), waited for as updateTemplateAnnotation: sets
   * `template.annotations[annotation.key] = annotation.value` and, when `pin` is given, sets the
   * version of every item of the secret volumes whose `secret` is one of `pin.secrets` (as written
   * in the template) and whose version is a number to `pin.version`; items at `latest` or at an
   * alias are left as they are.
   */
  updateSecretMount(
    name: string,
    change: {
      readonly annotation: { readonly key: string; readonly value: string };
      readonly pin?: { readonly secrets: readonly string[]; readonly version: string };
    },
    signal?: AbortSignal,
  ): Promise<CloudRunRollout>;
  /** Closes the underlying channels. */
  close(): Promise<void>;
}
