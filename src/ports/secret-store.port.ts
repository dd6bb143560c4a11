/**
 * Google Secret Manager (v1), the few calls sync_bundle needs to keep a Cloud Run CA-bundle secret
 * equal to the SPIRE server's bundle. Secrets are named `projects/<project>/secrets/<secret>`,
 * versions `…/versions/<n>` (n counts up from 1; `latest` is an alias of the newest version).
 */

/** Why a Secret Manager call failed (from its gRPC status; `malformed`: the answer was not the message it should be). */
export type SecretStoreFailure =
  | 'not_found'
  | 'permission_denied'
  | 'unauthenticated'
  | 'invalid_argument'
  | 'failed_precondition'
  | 'unavailable'
  | 'timeout'
  | 'aborted'
  | 'malformed'
  | 'rpc';

/** A secret's metadata (never its payload). */
export interface SecretInfo {
  /** projects/<project>/secrets/<secret> as the server names it. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** The payload of one version, and which version it is. */
export interface SecretVersionRead {
  /** projects/<project>/secrets/<secret>/versions/<n>: what `latest` resolved to. */
  readonly name: string;
  /** The version id, "<n>". */
  readonly version: string;
  readonly data: Uint8Array;
  /** When the version was added (epoch ms), null when the server did not say. */
  readonly createTimeMs: number | null;
}

/**
 * Secret Manager. Every method rejects with a ClassifiedError whose message names the endpoint, the
 * method, the resource and the gRPC code, and which carries `failure: SecretStoreFailure` (the
 * adapter decides its retry class from it). No method retries internally: the caller's loop (the
 * remediation queue) is the retry.
 */
export interface SecretStorePort {
  /** GetSecret: the secret's metadata (labels carry the simulated fleet's marker). */
  getSecret(secret: string, signal?: AbortSignal): Promise<SecretInfo>;
  /**
   * AccessSecretVersion on `<secret>/versions/latest`, then GetSecretVersion on what it resolved
   * to (for its create time). Resolves null when the secret has no version yet (NOT_FOUND) or its
   * newest version is disabled or destroyed (FAILED_PRECONDITION): nothing a mount could read.
   */
  readLatest(secret: string, signal?: AbortSignal): Promise<SecretVersionRead | null>;
  /** AddSecretVersion: a new version holding `data`; resolves with its name (…/versions/<n>). Never deduplicates. */
  addVersion(secret: string, data: Uint8Array, signal?: AbortSignal): Promise<string>;
  /** Closes the underlying channel. */
  close(): Promise<void>;
}
