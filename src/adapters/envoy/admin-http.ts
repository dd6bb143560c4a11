import { z } from 'zod';
import { ClassifiedError, type RetryClass } from '../../knowledge/errors/classified-error.js';
import { httpStatusRetryClass } from '../../knowledge/errors/http-retry-class.js';
import type { EnvoyCertsData, EnvoyStatsData, ServedCertificate } from '../../knowledge/model/observation.js';
import { normalizeSerial } from '../../knowledge/serial-number.js';
import type { EnvoyAdminPort, EnvoyServerInfo } from '../../ports/envoy-admin.port.js';
import { reduceEnvoyStats } from './envoy-stats.js';
import { errorMessage } from '../../knowledge/error-text.js';

/** Why an admin call failed: the transport, the HTTP status, or the payload. */
export type EnvoyAdminFailure = 'unreachable' | 'timeout' | 'aborted' | 'http_status' | 'malformed';

/**
 * The retry class of every Envoy admin failure but `http_status`, for execute: an Envoy that cannot
 * be reached, answers too late or was aborted may answer next time (it may be restarting); an answer
 * that is not what the admin API defines will not change. An HTTP status is classified by the HTTP
 * table (httpStatusRetryClass: 5xx, 408, 409, 425, 429 retryable; 403, 404 and other 4xx permanent).
 */
export const ENVOY_ADMIN_RETRY_CLASS: Readonly<Record<Exclude<EnvoyAdminFailure, 'http_status'>, RetryClass>> = {
  unreachable: 'retryable',
  timeout: 'retryable',
  aborted: 'retryable',
  malformed: 'permanent',
};

/** An Envoy admin call that failed; the message names the endpoint URL and what was wrong. */
export class EnvoyAdminError extends ClassifiedError {
  override readonly name = 'EnvoyAdminError';

  /** `endpoint` is the full URL called; `failure` classifies the cause; `status` is set for HTTP errors (and decides their retry class). */
  constructor(
    readonly endpoint: string,
    readonly failure: EnvoyAdminFailure,
    detail: string,
    readonly status?: number,
  ) {
    super(`${endpoint}: ${detail}`, failure === 'http_status' ? httpStatusRetryClass(status ?? 500) : ENVOY_ADMIN_RETRY_CLASS[failure]);
  }
}

/** Options of the HTTP adapter. */
export interface EnvoyAdminHttpOptions {
  /** Per-request timeout covering connect, headers and body (default 2000 ms). */
  readonly timeoutMs?: number;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const rfc3339 = z
  .string({ error: 'expected RFC3339 string' })
  .refine((s) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)), { error: 'expected RFC3339 string' })
  .transform((s) => Date.parse(s));
/** proto3 JSON int64: a decimal string (numbers accepted too, as protobuf parsers do). */
const int64 = z.union([z.string().regex(/^-?\d+$/), z.number().int()], { error: 'expected int64 (decimal string)' });

const subjectAltName = z.looseObject({
  uri: z.string({ error: 'expected string' }).optional(),
  dns: z.string({ error: 'expected string' }).optional(),
  ip_address: z.string({ error: 'expected string' }).optional(),
});

const certificateDetails = z.looseObject({
  path: z.string({ error: 'expected string' }).optional(),
  serial_number: z.string({ error: 'expected hex string' }).regex(/^[0-9a-fA-F]+$/, { error: 'expected hex string' }),
  subject_alt_names: z.array(subjectAltName, { error: 'expected array' }).default([]),
  days_until_expiration: int64.optional(),
  valid_from: rfc3339,
  expiration_time: rfc3339,
});

const certificate = z.looseObject({
  ca_cert: z.array(certificateDetails, { error: 'expected array' }).default([]),
  cert_chain: z.array(certificateDetails, { error: 'expected array' }).default([]),
});

/** envoy.admin.v3.Certificates as JSON; default-valued (empty) fields may be missing. */
const certificatesResponse = z.looseObject(
  {
    certificates: z.array(certificate, { error: 'expected array' }).default([]),
  },
  { error: 'expected a JSON object' },
);

type ParsedDetails = z.output<typeof certificateDetails>;

/** /stats?format=json: counters/gauges have numeric values, text readouts string values, plus one histograms entry. */
const statsResponse = z.looseObject(
  {
    stats: z.array(
      z.union([z.looseObject({ name: z.string(), value: z.union([z.number(), z.string()]) }), z.looseObject({ histograms: z.unknown() })], {
        error: 'expected {name, value} or {histograms}',
      }),
      { error: 'expected array' },
    ),
  },
  { error: 'expected a JSON object' },
);

const serverInfoResponse = z.looseObject(
  {
    state: z.enum(['LIVE', 'DRAINING', 'PRE_INITIALIZING', 'INITIALIZING'], {
      error: 'expected LIVE|DRAINING|PRE_INITIALIZING|INITIALIZING',
    }),
    uptime_current_epoch: z
      .string()
      .regex(/^\d+(\.\d+)?s$/, { error: 'expected a duration like "6s"' })
      .default('0s'),
    version: z.string().default(''),
    /** envoy.config.core.v3.Node; only metadata (a google.protobuf.Struct) is read, leniently (see nodeMetadataOf). */
    node: z.unknown().optional(),
  },
  { error: 'expected a JSON object' },
);

/** The string values of node.metadata; anything else (no node, no metadata, non-string values) is left out, never an error. */
function nodeMetadataOf(node: unknown): Record<string, string> {
  const metadata = typeof node === 'object' && node !== null ? (node as { metadata?: unknown }).metadata : undefined;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * EnvoyAdminPort over HTTP with Node's global fetch. Every failure rejects with an
 * EnvoyAdminError naming the URL and the cause: ECONNREFUSED (or another socket code),
 * "timed out after N ms", "HTTP 503 Service Unavailable: <body>", "invalid JSON (…)", or
 * "invalid /certs payload: certificates[0].cert_chain[0].expiration_time: expected RFC3339 string".
 */
export class EnvoyAdminHttp implements EnvoyAdminPort {
  private readonly timeoutMs: number;

  /** An adapter with the given timeout. */
  constructor(options: EnvoyAdminHttpOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 2_000;
  }

  /**
   * GET {adminUrl}/certs. `chain` is the cert_chain of the first certificates entry with a
   * non-empty chain, `caCerts` the ca_cert of that same entry (or, when no entry has a chain,
   * of the first entry with a CA). Serials are lowercased; times are ms since epoch.
   */
  async readCerts(adminUrl: string, signal?: AbortSignal): Promise<EnvoyCertsData> {
    const url = `${trimSlash(adminUrl)}/certs`;
    const entries = this.validate(url, '/certs', certificatesResponse, await this.request('GET', url, signal)).certificates;
    const withChain = entries.find((c) => c.cert_chain.length > 0);
    const source = withChain ?? entries.find((c) => c.ca_cert.length > 0);
    return {
      kind: 'envoy.certs',
      chain: (withChain?.cert_chain ?? []).map(toServed),
      caCerts: (source?.ca_cert ?? []).map(toServed),
    };
  }

  /** GET {adminUrl}/stats?format=json reduced to SDS and TLS counters (text readouts ignored). */
  async readStats(adminUrl: string, signal?: AbortSignal): Promise<EnvoyStatsData> {
    const url = `${trimSlash(adminUrl)}/stats?format=json`;
    const data = this.validate(url, '/stats', statsResponse, await this.request('GET', url, signal));
    const numeric: [string, number][] = [];
    for (const s of data.stats) {
      if ('name' in s && typeof s.name === 'string' && typeof s.value === 'number') numeric.push([s.name, s.value]);
    }
    return reduceEnvoyStats(numeric);
  }

  /** GET {adminUrl}/ready: 200 → true, 503 → false (Envoy not LIVE); anything else rejects. */
  async readReady(adminUrl: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.request('GET', `${trimSlash(adminUrl)}/ready`, signal);
      return true;
    } catch (e) {
      if (e instanceof EnvoyAdminError && e.status === 503) return false;
      throw e;
    }
  }

  /** GET {adminUrl}/server_info: state, uptime of the current epoch, version, the string values of node.metadata. */
  async readServerInfo(adminUrl: string, signal?: AbortSignal): Promise<EnvoyServerInfo> {
    const url = `${trimSlash(adminUrl)}/server_info`;
    const d = this.validate(url, '/server_info', serverInfoResponse, await this.request('GET', url, signal));
    return {
      state: d.state,
      uptimeSeconds: Number.parseFloat(d.uptime_current_epoch),
      version: d.version,
      nodeMetadata: nodeMetadataOf(d.node),
    };
  }

  /** JSON.parse + schema check; failures are `malformed` errors naming the field. */
  private validate<S extends z.ZodType>(url: string, what: string, schema: S, body: string): z.output<S> {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (e) {
      throw new EnvoyAdminError(url, 'malformed', `invalid JSON (${errorMessage(e)}): ${excerpt(body)}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new EnvoyAdminError(
        url,
        'malformed',
        `invalid ${what} payload: ${parsed.error.issues.map((i) => `${issuePath(i.path)}: ${i.message}`).join('; ')}`,
      );
    }
    return parsed.data;
  }

  /** POST {adminUrl}/quitquitquit; resolves on HTTP 200. */
  async quit(adminUrl: string, signal?: AbortSignal): Promise<void> {
    await this.request('POST', `${trimSlash(adminUrl)}/quitquitquit`, signal);
  }

  /** One request with timeout and caller abort; returns the body of a 200 response. */
  private async request(method: 'GET' | 'POST', url: string, signal?: AbortSignal): Promise<string> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    try {
      const res = await fetch(url, { method, signal: combined, redirect: 'error' });
      const body = await res.text();
      if (res.status !== 200) {
        throw new EnvoyAdminError(
          url,
          'http_status',
          `HTTP ${res.status}${res.statusText === '' ? '' : ` ${res.statusText}`}: ${excerpt(body)}`,
          res.status,
        );
      }
      return body;
    } catch (e) {
      if (e instanceof EnvoyAdminError) throw e;
      if (signal?.aborted === true) throw new EnvoyAdminError(url, 'aborted', `${method} aborted by caller`);
      if (timeout.aborted) throw new EnvoyAdminError(url, 'timeout', `${method} timed out after ${this.timeoutMs} ms`);
      throw new EnvoyAdminError(url, 'unreachable', `${method} failed: ${describeFetchError(e)}`);
    }
  }
}

function toServed(d: ParsedDetails): ServedCertificate {
  return {
    serialNumber: normalizeSerial(d.serial_number),
    uriSans: d.subject_alt_names.flatMap((s) => (s.uri === undefined ? [] : [s.uri])),
    validFromMs: d.valid_from,
    expiresAtMs: d.expiration_time,
  };
}

/** "certificates[0].cert_chain[0].expiration_time" from a zod issue path. */
function issuePath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/** The socket-level code undici hides in `cause` (ECONNREFUSED, ENOTFOUND…), plus its message. */
function describeFetchError(e: unknown): string {
  const cause = e instanceof Error ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const detail = typeof cause?.message === 'string' ? cause.message : errorMessage(e);
  return code === undefined ? detail : `${code} (${detail})`;
}

function excerpt(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
