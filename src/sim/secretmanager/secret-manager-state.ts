import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';

/** The RPCs of the fake Secret Manager that call faults can target. */
export type SimSecretMethod = 'GetSecret' | 'GetSecretVersion' | 'AccessSecretVersion' | 'AddSecretVersion';

/** A gRPC status the fake answers (code + details). */
export class SecretStatusError extends Error {
  override readonly name = 'SecretStatusError';

  /** `code` is sent to the client; the message becomes the status details. */
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** A call fault: the next `count` calls (of `method`, or any) answer `code` instead. */
export interface SimSecretCallFault {
  readonly code: status;
  readonly count: number;
  readonly method?: SimSecretMethod;
  readonly message?: string;
}

/** google.cloud.secretmanager.v1.SecretVersion.State names. */
export type SimSecretVersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

/** One version as the fake keeps it. */
export interface SimSecretVersion {
  /** "<n>", counting from 1. */
  readonly id: string;
  readonly data: Buffer;
  readonly createTimeMs: number;
  state: SimSecretVersionState;
}

interface SecretEntry {
  readonly project: string;
  readonly secret: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly createTimeMs: number;
  readonly versions: SimSecretVersion[];
}

/** Secret Manager rejects payloads above 64 KiB. */
const MAX_PAYLOAD = 64 * 1024;
const SECRET_NAME = /^projects\/([^/]+)\/secrets\/([A-Za-z0-9_-]{1,255})$/;
const VERSION_NAME = /^projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/]+)$/;

/**
 * The state behind the fake Secret Manager v1: secrets (keyed by project id and secret id) with
 * their versions. As the real API does, names in responses carry the project *number*
 * (projects/<number>/secrets/…), and a request may use the project id or that number; `latest`
 * is the most recently created version whatever its state (a disabled newest version makes
 * `latest` unreadable: FAILED_PRECONDITION). Time comes from `now()`.
 */
export class SimSecretManager {
  private readonly secrets = new Map<string, SecretEntry>();
  private readonly faults: { fault: SimSecretCallFault; remaining: number }[] = [];

  /** An empty fake reading time from `now`. */
  constructor(private readonly now: () => number = Date.now) {}

  /** The project number the fake reports for a project id (stable, 12 digits). */
  static projectNumber(project: string): string {
    if (/^\d+$/.test(project)) return project;
    return String(parseInt(createHash('sha256').update(project).digest('hex').slice(0, 10), 16))
      .padStart(12, '7')
      .slice(0, 12);
  }

  /** Creates a secret (no versions). Throws ALREADY_EXISTS for a duplicate, INVALID_ARGUMENT for a bad name. */
  createSecret(name: string, labels: Readonly<Record<string, string>> = {}): void {
    const m = SECRET_NAME.exec(name);
    if (m?.[1] === undefined || m[2] === undefined) throw new SecretStatusError(status.INVALID_ARGUMENT, `invalid secret name "${name}"`);
    const key = this.key(m[1], m[2]);
    if (this.secrets.has(key)) throw new SecretStatusError(status.ALREADY_EXISTS, `Secret [${name}] already exists.`);
    this.secrets.set(key, { project: m[1], secret: m[2], labels: { ...labels }, createTimeMs: this.now(), versions: [] });
  }

  /** GetSecret: name (with the project number) and labels. */
  getSecret(name: string): { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly createTimeMs: number } {
    const e = this.entry(name);
    return { name: this.secretName(e), labels: e.labels, createTimeMs: e.createTimeMs };
  }

  /** AddSecretVersion: a new ENABLED version (never deduplicated). INVALID_ARGUMENT above 64 KiB. */
  addVersion(parent: string, data: Uint8Array): SimSecretVersion & { readonly name: string } {
    const e = this.entry(parent);
    if (data.length > MAX_PAYLOAD)
      throw new SecretStatusError(status.INVALID_ARGUMENT, `Secret payload is ${data.length} bytes; the limit is ${MAX_PAYLOAD}.`);
    const v: SimSecretVersion = { id: String(e.versions.length + 1), data: Buffer.from(data), createTimeMs: this.now(), state: 'ENABLED' };
    e.versions.push(v);
    return { ...v, name: `${this.secretName(e)}/versions/${v.id}` };
  }

  /** GetSecretVersion (`latest` allowed): metadata, whatever the state. */
  getVersion(name: string): SimSecretVersion & { readonly name: string } {
    const { entry, version } = this.version(name);
    return { ...version, name: `${this.secretName(entry)}/versions/${version.id}` };
  }

  /** AccessSecretVersion: the payload of an ENABLED version; FAILED_PRECONDITION for a disabled or destroyed one. */
  access(name: string): { readonly name: string; readonly data: Buffer } {
    const { entry, version } = this.version(name);
    const full = `${this.secretName(entry)}/versions/${version.id}`;
    if (version.state !== 'ENABLED')
      throw new SecretStatusError(status.FAILED_PRECONDITION, `Secret Version [${full}] is in ${version.state} state.`);
    return { name: full, data: version.data };
  }

  /** DisableSecretVersion (tests): the version can no longer be accessed. */
  disableVersion(name: string): void {
    this.version(name).version.state = 'DISABLED';
  }

  /** Every version of a secret, oldest first (copies). */
  versions(secret: string): SimSecretVersion[] {
    return this.entry(secret).versions.map((v) => ({ ...v }));
  }

  /**
   * What a mount of `secret` at `version` ("latest", a number) reads now, as Cloud Run resolves it
   * at file read: the payload as text, or null when that version cannot be read.
   */
  read(secret: string, version: string): string | null {
    try {
      return this.access(`${secret}/versions/${version}`).data.toString('utf8');
    } catch {
      return null;
    }
  }

  /** Queues a call fault (see SimSecretCallFault). */
  failCalls(fault: SimSecretCallFault): void {
    if (!Number.isInteger(fault.count) || fault.count < 1) throw new Error(`call fault count must be an integer >= 1, got ${fault.count}`);
    this.faults.push({ fault, remaining: fault.count });
  }

  /** Drops every queued call fault. */
  clearCallFaults(): void {
    this.faults.length = 0;
  }

  /** Used by the server: the fault this call suffers, if any (consumes one use). */
  takeCallFault(method: SimSecretMethod): SimSecretCallFault | undefined {
    const i = this.faults.findIndex((p) => p.fault.method === undefined || p.fault.method === method);
    const p = this.faults[i];
    if (p === undefined) return undefined;
    p.remaining -= 1;
    if (p.remaining <= 0) this.faults.splice(i, 1);
    return p.fault;
  }

  private version(name: string): { readonly entry: SecretEntry; readonly version: SimSecretVersion } {
    const m = VERSION_NAME.exec(name);
    if (m?.[1] === undefined || m[2] === undefined || m[3] === undefined)
      throw new SecretStatusError(status.INVALID_ARGUMENT, `invalid secret version name "${name}"`);
    const entry = this.entry(`projects/${m[1]}/secrets/${m[2]}`);
    const id = m[3];
    const version = id === 'latest' ? entry.versions.at(-1) : /^\d+$/.test(id) ? entry.versions[Number(id) - 1] : undefined;
    if (version === undefined) {
      if (id !== 'latest' && !/^\d+$/.test(id))
        throw new SecretStatusError(status.INVALID_ARGUMENT, `version "${id}" is neither a number nor latest (aliases are not simulated)`);
      throw new SecretStatusError(status.NOT_FOUND, `Secret Version [${this.secretName(entry)}/versions/${id}] not found.`);
    }
    return { entry, version };
  }

  private entry(name: string): SecretEntry {
    const m = SECRET_NAME.exec(name);
    if (m?.[1] === undefined || m[2] === undefined)
      throw new SecretStatusError(status.INVALID_ARGUMENT, `invalid secret name "${name}": expected projects/<project>/secrets/<secret>`);
    const byId = [...this.secrets.values()].find(
      (e) => e.secret === m[2] && (e.project === m[1] || SimSecretManager.projectNumber(e.project) === m[1]),
    );
    if (byId === undefined)
      throw new SecretStatusError(
        status.NOT_FOUND,
        `Secret [projects/${SimSecretManager.projectNumber(m[1])}/secrets/${m[2]}] not found or has no versions.`,
      );
    return byId;
  }

  private secretName(e: SecretEntry): string {
    return `projects/${SimSecretManager.projectNumber(e.project)}/secrets/${e.secret}`;
  }

  private key(project: string, secret: string): string {
    return `${SimSecretManager.projectNumber(project)}/${secret}`;
  }
}
