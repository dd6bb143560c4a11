import { SecretManagerServiceClient, type protos } from '@google-cloud/secret-manager';
import { untilAborted } from '../../support/until-aborted.js';
import { credentials } from '@grpc/grpc-js';
import type { SecretInfo, SecretStorePort, SecretVersionRead } from '../../ports/secret-store.port.js';
import { SecretManagerError, toSecretManagerError, type SecretCallSite } from './secret-manager-error.js';

/** How to reach the Secret Manager API v1 and how long to wait. */
export interface SecretManagerClientOptions {
  /** Host of the API (default secretmanager.googleapis.com). */
  readonly apiEndpoint?: string;
  /** Port (default 443). */
  readonly port?: number;
  /**
   * Plaintext gRPC and no Google credentials at all (no ADC, no metadata server): for the local fake. Otherwise TLS with Application
   * Default Credentials.
   */
  readonly insecure?: boolean;
  /** Deadline of each RPC in ms (default 10000). */
  readonly callTimeoutMs?: number;
}

type Timestamp = protos.google.protobuf.ITimestamp;

const VERSION_NAME = /^projects\/[^/]+\/(?:locations\/[^/]+\/)?secrets\/[^/]+\/versions\/(\d+)$/;

/** A Timestamp as epoch ms; null when absent or not a number (seconds arrive as string, Long or number). */
function timestampMs(ts: Timestamp | null | undefined): number | null {
  if (ts === null || ts === undefined) return null;
  const seconds = Number(String(ts.seconds ?? 0));
  return Number.isFinite(seconds) ? seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000) : null;
}

function stringMap(m: Record<string, string> | null | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(m ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/**
 * SecretStorePort over the real SecretManagerServiceClient (google.cloud.secretmanager.v1, gRPC)
 * from @google-cloud/secret-manager 6.x (google-gax 5, Node >= 18). gax's own retries are switched
 * off (`retry: null`), so every call is one RPC bounded by callTimeoutMs; an AbortSignal stops
 * waiting at once (an RPC in flight still ends at its deadline).
 */
export class SecretManagerClient implements SecretStorePort {
  private readonly client: SecretManagerServiceClient;
  private readonly endpoint: string;
  private readonly callTimeoutMs: number;
  private ready: Promise<unknown> | null = null;

  /** Builds the client; no connection is made until the first call. */
  constructor(options: SecretManagerClientOptions = {}) {
    const port = options.port ?? 443;
    this.endpoint = `${options.apiEndpoint ?? 'secretmanager.googleapis.com'}:${port}`;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    const where = { ...(options.apiEndpoint === undefined ? {} : { apiEndpoint: options.apiEndpoint }), port };
    // As for Cloud Run: sslCreds are used verbatim (no auth headers), universeDomain skips ADC discovery.
    this.client =
      options.insecure === true
        ? new SecretManagerServiceClient({ ...where, sslCreds: credentials.createInsecure(), universeDomain: 'googleapis.com' })
        : new SecretManagerServiceClient(where);
  }

  /** @inheritdoc */
  async getSecret(secret: string, signal?: AbortSignal): Promise<SecretInfo> {
    const site = this.site('GetSecret', secret);
    return this.guard(site, signal, async () => {
      const [s] = await this.client.getSecret({ name: secret }, this.callOptions());
      if (typeof s.name !== 'string' || s.name === '') throw new SecretManagerError('malformed', site, 'OK', 'the Secret has no name');
      return { name: s.name, labels: stringMap(s.labels), annotations: stringMap(s.annotations) };
    });
  }

  /** @inheritdoc */
  async readLatest(secret: string, signal?: AbortSignal): Promise<SecretVersionRead | null> {
    const latest = `${secret}/versions/latest`;
    const accessSite = this.site('AccessSecretVersion', latest);
    let access: protos.google.cloud.secretmanager.v1.IAccessSecretVersionResponse;
    try {
      access = await this.guard(
        accessSite,
        signal,
        async () => (await this.client.accessSecretVersion({ name: latest }, this.callOptions()))[0],
      );
    } catch (e: unknown) {
      if (e instanceof SecretManagerError && (e.failure === 'not_found' || e.failure === 'failed_precondition')) {
        // NOT_FOUND for the version alias means the secret exists but has no version; a missing secret is GetSecret's NOT_FOUND.
        if (e.failure === 'failed_precondition') return null;
        await this.getSecret(secret, signal);
        return null;
      }
      throw e;
    }
    const name = access.name ?? '';
    const m = VERSION_NAME.exec(name);
    if (m?.[1] === undefined)
      throw new SecretManagerError(
        'malformed',
        accessSite,
        'OK',
        `the response names version ${JSON.stringify(name)}, not projects/…/secrets/…/versions/<n>`,
      );
    const data = access.payload?.data;
    if (data === null || data === undefined || typeof data === 'string')
      throw new SecretManagerError('malformed', accessSite, 'OK', 'the response has no payload bytes');
    const getSite = this.site('GetSecretVersion', name);
    const version = await this.guard(getSite, signal, async () => (await this.client.getSecretVersion({ name }, this.callOptions()))[0]);
    return { name, version: m[1], data: Uint8Array.from(data), createTimeMs: timestampMs(version.createTime) };
  }

  /** @inheritdoc */
  async addVersion(secret: string, data: Uint8Array, signal?: AbortSignal): Promise<string> {
    const site = this.site('AddSecretVersion', secret);
    return this.guard(site, signal, async () => {
      const [v] = await this.client.addSecretVersion({ parent: secret, payload: { data } }, this.callOptions());
      const name = v.name ?? '';
      if (!VERSION_NAME.test(name))
        throw new SecretManagerError('malformed', site, 'OK', `the new SecretVersion is named ${JSON.stringify(name)}`);
      return name;
    });
  }

  /** @inheritdoc */
  async close(): Promise<void> {
    await this.client.close();
  }

  /** Runs `fn`, turning anything it throws into a SecretManagerError at `site`, and stops waiting on abort. */
  private async guard<T>(site: SecretCallSite, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      signal?.throwIfAborted();
      this.ready ??= this.client.initialize();
      await this.ready;
      return await untilAborted(fn, signal, () => abortError(signal as AbortSignal, site));
    } catch (e: unknown) {
      if (signal?.aborted === true && !(e instanceof SecretManagerError)) throw abortError(signal, site);
      throw toSecretManagerError(e, site);
    }
  }

  private callOptions(): { timeout: number; retry: null } {
    return { timeout: this.callTimeoutMs, retry: null };
  }

  private site(method: string, resource: string): SecretCallSite {
    return { endpoint: this.endpoint, method, resource };
  }
}

/** The error for a call the caller aborted: `timeout` for AbortSignal.timeout(), otherwise `rpc` CANCELLED. */
function abortError(signal: AbortSignal, site: SecretCallSite): SecretManagerError {
  const reason: unknown = signal.reason;
  const isTimeout = reason instanceof Error && reason.name === 'TimeoutError';
  return new SecretManagerError(
    isTimeout ? 'timeout' : 'rpc',
    site,
    isTimeout ? 'DEADLINE_EXCEEDED' : 'CANCELLED',
    'aborted by the caller',
    { cause: reason },
  );
}
