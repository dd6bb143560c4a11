import { ServicesClient, type protos } from '@google-cloud/run';
import { untilAborted } from '../../support/until-aborted.js';
import { credentials } from '@grpc/grpc-js';
import type { CloudRunPort, CloudRunRollout, CloudRunService } from '../../ports/cloudrun.port.js';
import { CloudRunError, toCloudRunError, type CloudRunCallSite } from './cloudrun-error.js';
import { MalformedServiceError, toCloudRunService } from './cloudrun-service-map.js';

/** How to reach the Cloud Run Admin API v2 and how long to wait. */
export interface CloudRunAdminClientOptions {
  /** Host of the API (default run.googleapis.com). */
  readonly apiEndpoint?: string;
  /** Port (default 443). */
  readonly port?: number;
  /**
   * Plaintext gRPC and no Google credentials at all (no ADC, no metadata server): for the local
   * fake. Otherwise TLS with Application Default Credentials.
   */
  readonly insecure?: boolean;
  /** Deadline of each RPC in ms (default 10000). */
  readonly callTimeoutMs?: number;
  /** How long updateTemplateAnnotation waits for its operation, in ms (default 600000). */
  readonly rolloutTimeoutMs?: number;
  /** First delay between operation polls in ms (default 1000; it grows 1.5x up to 10000). */
  readonly pollInitialDelayMs?: number;
  /** page_size of ListServices (default 100). */
  readonly pageSize?: number;
}

type RawService = protos.google.cloud.run.v2.IService;
type RawTemplate = protos.google.cloud.run.v2.IRevisionTemplate;
type RawVolume = protos.google.cloud.run.v2.IVolume;
type ListRequest = protos.google.cloud.run.v2.IListServicesRequest;

/** The parts of gax's LROperation this client uses (an EventEmitter that polls while 'complete' has listeners). */
interface PolledOperation {
  readonly name?: string | null;
  readonly latestResponse?: { readonly done?: boolean | null; readonly error?: { readonly message?: string | null } | null } | null;
  on(event: 'complete' | 'error', listener: (arg: unknown) => void): unknown;
  removeAllListeners(event: 'complete' | 'error'): unknown;
}

/** A safety stop for a server that keeps returning page tokens. */
const MAX_PAGES = 10_000;

/**
 * CloudRunPort over the real ServicesClient (google.cloud.run.v2, gRPC) from @google-cloud/run.
 * gax's own retries are switched off (`retry: null`) so every call is one RPC bounded by
 * callTimeoutMs; the caller's loop is the retry. An AbortSignal stops waiting at once (an RPC in
 * flight still ends at its deadline; operation polling stops).
 */
export class CloudRunAdminClient implements CloudRunPort {
  private readonly client: ServicesClient;
  private readonly endpoint: string;
  private readonly callTimeoutMs: number;
  private readonly rolloutTimeoutMs: number;
  private readonly pollInitialDelayMs: number;
  private readonly pageSize: number;
  private ready: Promise<unknown> | null = null;

  /** Builds the client; no connection is made until the first call. */
  constructor(options: CloudRunAdminClientOptions = {}) {
    const port = options.port ?? 443;
    this.endpoint = `${options.apiEndpoint ?? 'run.googleapis.com'}:${port}`;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.rolloutTimeoutMs = options.rolloutTimeoutMs ?? 600_000;
    this.pollInitialDelayMs = options.pollInitialDelayMs ?? 1000;
    this.pageSize = options.pageSize ?? 100;
    const where = { ...(options.apiEndpoint === undefined ? {} : { apiEndpoint: options.apiEndpoint }), port };
    // With sslCreds set gax uses them verbatim (no auth headers); an explicit universeDomain keeps
    // google-auth-library from running ADC discovery (and probing the metadata server) for it.
    this.client =
      options.insecure === true
        ? new ServicesClient({ ...where, sslCreds: credentials.createInsecure(), universeDomain: 'googleapis.com' })
        : new ServicesClient(where);
  }

  /** @inheritdoc */
  async listServices(project: string, location: string, signal?: AbortSignal): Promise<CloudRunService[]> {
    const parent = `projects/${project}/locations/${location}`;
    const site = this.site('ListServices', parent);
    return this.guard(site, signal, async () => {
      const out: CloudRunService[] = [];
      const seen = new Set<string>();
      let request: ListRequest | null = { parent, pageSize: this.pageSize };
      for (let page = 0; request !== null; page++) {
        if (page >= MAX_PAGES) throw new CloudRunError('malformed', site, 'OK', `more than ${MAX_PAGES} pages`);
        signal?.throwIfAborted();
        const pageRequest: ListRequest = request;
        // autoPaginate defaults to true (all pages in one promise, page_size ignored with a warning): page by hand.
        const [services, next]: [RawService[], ListRequest | null, unknown] = await this.client.listServices(pageRequest, {
          ...this.callOptions(),
          autoPaginate: false,
        });
        for (const s of services) out.push(this.mapService(site, s));
        const token = next?.pageToken ?? '';
        if (token !== '' && seen.has(token))
          throw new CloudRunError('malformed', site, 'OK', `page token ${JSON.stringify(token)} repeated`);
        seen.add(token);
        request = token === '' ? null : next;
      }
      return out;
    });
  }

  /** @inheritdoc */
  async getService(name: string, signal?: AbortSignal): Promise<CloudRunService> {
    const site = this.site('GetService', name);
    return this.guard(site, signal, async () => this.mapService(site, await this.getRaw(name)));
  }

  /** @inheritdoc */
  async updateTemplateAnnotation(name: string, key: string, value: string, signal?: AbortSignal): Promise<CloudRunRollout> {
    return this.updateTemplate(name, (template) => ({ ...template, annotations: { ...template.annotations, [key]: value } }), signal);
  }

  /** @inheritdoc */
  async updateSecretMount(
    name: string,
    change: {
      readonly annotation: { readonly key: string; readonly value: string };
      readonly pin?: { readonly secrets: readonly string[]; readonly version: string };
    },
    signal?: AbortSignal,
  ): Promise<CloudRunRollout> {
    const { annotation, pin } = change;
    return this.updateTemplate(
      name,
      (template) => ({
        ...template,
        annotations: { ...template.annotations, [annotation.key]: annotation.value },
        ...(pin === undefined ? {} : { volumes: (template.volumes ?? []).map((v) => pinned(v, pin.secrets, pin.version)) }),
      }),
      signal,
    );
  }

  /** GetService, `edit` its template, UpdateService (a new revision when the template changed), then waits for the operation. */
  private async updateTemplate(name: string, edit: (template: RawTemplate) => RawTemplate, signal?: AbortSignal): Promise<CloudRunRollout> {
    const getSite = this.site('GetService', name);
    const current = await this.guard(getSite, signal, async () => {
      const raw = await this.getRaw(name);
      this.mapService(getSite, raw);
      return raw;
    });
    const updateSite = this.site('UpdateService', name);
    const op = await this.guard(updateSite, signal, async () => {
      const service: RawService = { ...current, template: edit(current.template ?? {}) };
      const [lro] = await this.client.updateService({ service }, { ...this.callOptions(), longrunning: this.pollSettings() });
      const operation: PolledOperation = lro;
      if (typeof operation.name !== 'string' || operation.name === '')
        throw new CloudRunError('malformed', updateSite, 'OK', 'UpdateService returned an Operation without a name');
      return { operation, name: operation.name };
    });
    await this.waitFor(op.operation, this.site('GetOperation', op.name), signal);
    return { operation: op.name, service: await this.getService(name, signal) };
  }

  /** @inheritdoc */
  async close(): Promise<void> {
    await this.client.close();
  }

  private async getRaw(name: string): Promise<RawService> {
    const [svc] = await this.client.getService({ name }, this.callOptions());
    return svc;
  }

  /**
   * Polls `op` with gax's operation polling until it completes. An operation that finishes with
   * an error is `rollout_failed` (its message); a failed poll is that RPC's failure; no outcome
   * within rolloutTimeoutMs is `timeout`. Polling stops on every exit path.
   */
  private async waitFor(op: PolledOperation, site: CloudRunCallSite, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted === true) throw toAbortError(signal, site);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => {
          reject(new CloudRunError('timeout', site, 'DEADLINE_EXCEEDED', `operation not done after ${this.rolloutTimeoutMs} ms`));
        }, this.rolloutTimeoutMs);
        onAbort = () => {
          reject(toAbortError(signal, site));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        op.on('complete', () => {
          resolve();
        });
        op.on('error', (e) => {
          const latest = op.latestResponse;
          if (latest?.done === true && latest.error !== null && latest.error !== undefined) {
            reject(
              new CloudRunError('rollout_failed', site, 'OK', latest.error.message ?? 'operation failed without a message', { cause: e }),
            );
          } else reject(toCloudRunError(e, site));
        });
      });
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      // No 'complete' listener stops gax's polling; a poll still in flight may emit 'error' later,
      // which must find a listener (an unhandled 'error' event would crash the process).
      op.removeAllListeners('complete');
      op.removeAllListeners('error');
      op.on('error', () => undefined);
    }
  }

  /** Runs `fn`, turning anything it throws into a CloudRunError at `site`, and stops waiting on abort. */
  private async guard<T>(site: CloudRunCallSite, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      signal?.throwIfAborted();
      this.ready ??= this.client.initialize();
      await this.ready;
      return await untilAborted(fn, signal, () => toAbortError(signal as AbortSignal, site));
    } catch (e: unknown) {
      if (signal?.aborted === true && !(e instanceof CloudRunError)) throw toAbortError(signal, site);
      throw toCloudRunError(e, site);
    }
  }

  private mapService(site: CloudRunCallSite, raw: RawService | null | undefined): CloudRunService {
    try {
      return toCloudRunService(raw);
    } catch (e: unknown) {
      if (e instanceof MalformedServiceError) throw new CloudRunError('malformed', site, 'OK', e.message, { cause: e });
      throw e;
    }
  }

  private callOptions(): { timeout: number; retry: null } {
    return { timeout: this.callTimeoutMs, retry: null };
  }

  private pollSettings() {
    return {
      initialRetryDelayMillis: this.pollInitialDelayMs,
      retryDelayMultiplier: 1.5,
      maxRetryDelayMillis: Math.max(this.pollInitialDelayMs, 10_000),
      initialRpcTimeoutMillis: this.callTimeoutMs,
      rpcTimeoutMultiplier: 1,
      maxRpcTimeoutMillis: this.callTimeoutMs,
      totalTimeoutMillis: this.rolloutTimeoutMs,
    };
  }

  private site(method: string, resource: string): CloudRunCallSite {
    return { endpoint: this.endpoint, method, resource };
  }
}

/** `v` with the items of a secret volume of one of `secrets` that pin a numeric version moved to `version`. */
function pinned(v: RawVolume, secrets: readonly string[], version: string): RawVolume {
  const src = v.secret;
  if (src === null || src === undefined || !secrets.includes(src.secret ?? '')) return v;
  return { ...v, secret: { ...src, items: (src.items ?? []).map((it) => (/^\d+$/.test(it.version ?? '') ? { ...it, version } : it)) } };
}

/** The error for a call the caller aborted: `timeout` for AbortSignal.timeout(), otherwise `rpc` CANCELLED. */
function toAbortError(signal: AbortSignal | undefined, site: CloudRunCallSite): CloudRunError {
  const reason: unknown = signal?.reason;
  const isTimeout = reason instanceof Error && reason.name === 'TimeoutError';
  return new CloudRunError(isTimeout ? 'timeout' : 'rpc', site, isTimeout ? 'DEADLINE_EXCEEDED' : 'CANCELLED', 'aborted by the caller', {
    cause: reason,
  });
}
