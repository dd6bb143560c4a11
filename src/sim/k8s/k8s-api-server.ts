/**
 * A protocol-faithful fake Kubernetes API server on 127.0.0.1 (plain HTTP, no auth): discovery
 * (/version, /api, /apis, /api/v1, /apis/apps/v1), and for the kinds in KUBE_RESOURCES list
 * (label/field selectors, limit/continue), watch, get, create, replace, patch (JSON, merge and
 * strategic merge) and delete, all with real JSON shapes and meta/v1 Status errors, plus the pod
 * log subresource (text from `podLogs`). The real `kubectl` and @kubernetes/client-node work
 * against it. State lives in a KubeStore.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeFaults, type KubeFaultMode } from './k8s-faults.js';
import { applyPatch } from './k8s-patch.js';
import { parsePodLogPath, podLogText, validateEvent, type PodLogSource } from './k8s-pod-log.js';
import {
  apiGroup,
  apiVersionOf,
  coreVersions,
  findResource,
  groupList,
  resourceList,
  selectableFields,
  VERSION_INFO,
  type KubeResourceType,
} from './k8s-resources.js';
import { parseFieldSelector, parseLabelSelector } from './k8s-selectors.js';
import { badRequest, KubeStatusError, kubeStatus, notFound } from './k8s-status.js';
import type { KubeObject, KubeStore, NewKubeObject } from './k8s-store.js';
import { WatchStream } from './k8s-watch.js';
import { renderTable, wantsTable } from './k8s-table.js';
import { errorMessage } from '../../knowledge/error-text.js';

/** Options of the fake server. */
export interface FakeKubeApiServerOptions {
  /** Bookmark period for watches that allow bookmarks. Default 30 s. */
  readonly bookmarkIntervalMs?: number;
  /** Server-side cap on a watch's life when the client sets no timeoutSeconds; null = none. Default null. */
  readonly maxWatchMs?: number | null;
  /** What GET …/pods/{name}/log returns; empty logs when absent. */
  readonly podLogs?: PodLogSource;
}

/** A request target resolved against the served resources. */
interface Target {
  readonly type: KubeResourceType;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
}

const MAX_BODY = 4 * 1024 * 1024;

/** Resolves /api/v1/… or /apis/<g>/<v>/… to a resource, namespace and name (undefined: not a resource path). */
function parseTarget(path: string): Target | undefined {
  const segs = path
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) [group, version, rest] = ['', segs[1] ?? '', segs.slice(2)];
  else if (segs[0] === 'apis' && segs.length >= 4) [group, version, rest] = [segs[1] ?? '', segs[2] ?? '', segs.slice(3)];
  else return undefined;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length < 1 || rest.length > 2) return undefined;
  const type = findResource(group, version, rest[0] ?? '');
  if (type === undefined || (namespace !== undefined && !type.namespaced)) return undefined;
  return { type, namespace, name: rest[1] };
}

/** A Status 404 for a path nothing serves. */
const NO_ROUTE = kubeStatus(404, 'NotFound', 'the server could not find the requested resource');

/** The fake API server. Construct with a store, `start()`, point clients at `url`. */
export class FakeKubeApiServer {
  /** Fault injection: failing requests, expiring and closing watches. */
  readonly faults = new KubeFaults();
  /** Where pod logs come from (settable after construction); empty logs when undefined. */
  podLogs: PodLogSource | undefined;
  private readonly server: Server;
  private readonly watches = new Set<WatchStream>();
  private baseUrl: string | null = null;
  private readonly bookmarkIntervalMs: number;
  private readonly maxWatchMs: number | null;

  /** A server over `store`; nothing listens until start(). */
  constructor(
    readonly store: KubeStore,
    options: FakeKubeApiServerOptions = {},
  ) {
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 30_000;
    this.maxWatchMs = options.maxWatchMs ?? null;
    this.podLogs = options.podLogs;
    this.server = createServer((req, res) => {
      this.handle(req, res);
    });
    this.faults.bindWatchCloser(() => {
      const open = [...this.watches];
      for (const w of open) w.close();
      return open.length;
    });
  }

  /** Listens on 127.0.0.1 (`port` 0: ephemeral). Resolves with the base URL, e.g. http://127.0.0.1:41234. */
  async start(port = 0): Promise<{ url: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.baseUrl = `http://127.0.0.1:${bound}`;
    return { url: this.baseUrl, port: bound };
  }

  /** The base URL. Throws before start(). */
  get url(): string {
    if (this.baseUrl === null) throw new Error('FakeKubeApiServer.url read before start()');
    return this.baseUrl;
  }

  /** Number of watch streams open right now. */
  get openWatches(): number {
    return this.watches.size;
  }

  /** Sends a BOOKMARK on every open watch now (regardless of the interval). */
  sendBookmarks(): void {
    for (const w of this.watches) w.bookmark();
  }

  /** Closes every watch and connection and stops listening. */
  async close(): Promise<void> {
    for (const w of [...this.watches]) w.close();
    if (this.baseUrl === null) return;
    this.baseUrl = null;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const q = url.searchParams;
    const isWatch = q.get('watch') === 'true' || q.get('watch') === '1';
    const fault = this.faults.takeRequestFault(method, url.pathname, req.url ?? '/', isWatch);
    if (fault !== undefined) {
      req.resume();
      this.answerFault(req, res, fault);
      return;
    }
    readBody(req).then(
      (body) => {
        try {
          this.faults.runInterceptors(method, url.pathname, isWatch);
        } catch {
          // A failing interceptor is the test's problem, not the request's.
        }
        this.route(req, res, url, method, isWatch, body);
      },
      () => {
        sendStatus(res, kubeStatus(413, 'RequestEntityTooLarge', 'the request body is too large'));
      },
    );
  }

  private answerFault(req: IncomingMessage, res: ServerResponse, fault: KubeFaultMode): void {
    if (fault.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault.kind === 'garbage') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"kind":"PodList","items":[{"metadata": <html>garbage');
      return;
    }
    const reason =
      fault.code === 500
        ? 'InternalError'
        : fault.code === 503
          ? 'ServiceUnavailable'
          : fault.code === 429
            ? 'TooManyRequests'
            : 'InternalError';
    sendStatus(res, kubeStatus(fault.code, reason, `Internal error occurred: injected fault (HTTP ${fault.code})`));
  }

  private route(req: IncomingMessage, res: ServerResponse, url: URL, method: string, isWatch: boolean, body: string): void {
    try {
      if (/^\/(healthz|livez|readyz)\/?$/.test(url.pathname)) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('ok');
        return;
      }
      const discovery = this.discovery(url.pathname);
      if (discovery !== undefined) {
        if (method !== 'GET')
          throw new KubeStatusError(kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
        sendJson(res, 200, discovery);
        return;
      }
      const log = parsePodLogPath(url.pathname);
      if (log !== undefined) {
        if (method !== 'GET')
          throw new KubeStatusError(kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
        const text = podLogText(this.store, this.podLogs, log.namespace, log.name, url.searchParams);
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' }).end(text);
        return;
      }
      const t = parseTarget(url.pathname);
      if (t === undefined) {
        sendStatus(res, NO_ROUTE);
        return;
      }
      if (t.name === undefined) this.collection(req, res, t, method, isWatch, url.searchParams, body);
      else this.item(req, res, t, t.name, method, body);
    } catch (e: unknown) {
      if (e instanceof KubeStatusError) sendStatus(res, e.status);
      else sendStatus(res, kubeStatus(500, 'InternalError', `Internal error occurred: ${errorMessage(e)}`));
    }
  }

  private discovery(path: string): object | undefined {
    const p = path.replace(/\/+$/, '');
    if (p === '/version') return VERSION_INFO;
    if (p === '/api') return coreVersions(this.baseUrl?.replace('http://', '') ?? '127.0.0.1:0');
    if (p === '/apis') return groupList();
    if (p === '/api/v1') return resourceList('', 'v1');
    const m = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(p);
    if (m === null) return undefined;
    return m[2] === undefined ? apiGroup(m[1] ?? '') : resourceList(m[1] ?? '', m[2]);
  }

  private selector(t: KubeResourceType, q: URLSearchParams): (o: KubeObject) => boolean {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'), ['metadata.name', 'metadata.namespace', ...Object.keys(t.fields)]);
    return (o) => labels(o.metadata.labels ?? {}) && fields(selectableFields(t, o));
  }

  private collection(
    req: IncomingMessage,
    res: ServerResponse,
    t: Target,
    method: string,
    isWatch: boolean,
    q: URLSearchParams,
    body: string,
  ): void {
    if (method === 'POST') {
      const input = parseObject(body);
      const meta = input.metadata as Partial<KubeObject['metadata']> | undefined;
      if (t.namespace !== undefined && meta?.namespace !== undefined && meta.namespace !== t.namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      const obj = {
        ...input,
        kind: t.type.kind,
        apiVersion: apiVersionOf(t.type),
        metadata: { name: '', ...meta, ...(t.namespace === undefined ? {} : { namespace: t.namespace }) },
      } as NewKubeObject;
      if (t.type.resource === 'events') validateEvent(obj, t.namespace);
      sendJson(res, 201, this.store.create(t.type.resource, obj, t.type.group));
      return;
    }
    if (method !== 'GET')
      throw new KubeStatusError(kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
    const selects = this.selector(t.type, q);
    if (isWatch) {
      const timeout = q.get('timeoutSeconds');
      const timeoutMs = timeout !== null && /^\d+$/.test(timeout) ? Number(timeout) * 1000 : this.maxWatchMs;
      const forceExpired = this.faults.takeWatchExpiry(t.type.resource);
      const stream: WatchStream = new WatchStream(
        this.store,
        { type: t.type, namespace: t.namespace, selects },
        {
          resourceVersion: q.get('resourceVersion') ?? '',
          allowWatchBookmarks: q.get('allowWatchBookmarks') === 'true',
          timeoutMs,
          bookmarkIntervalMs: this.bookmarkIntervalMs,
          forceExpired,
        },
        res,
        () => {
          this.watches.delete(stream);
        },
      );
      if (!res.writableEnded) this.watches.add(stream);
      return;
    }
    this.list(req, res, t, q, selects);
  }

  private list(req: IncomingMessage, res: ServerResponse, t: Target, q: URLSearchParams, selects: (o: KubeObject) => boolean): void {
    let items = this.store.peek(t.type.resource, t.namespace).filter(selects);
    const cont = q.get('continue');
    if (cont !== null && cont !== '') {
      const after = decodeContinue(cont);
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > after);
    }
    const limit = Number(q.get('limit') ?? '0');
    const metadata: Record<string, unknown> = { resourceVersion: String(this.store.resourceVersion) };
    if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
      const last = items[limit - 1];
      metadata.remainingItemCount = items.length - limit;
      metadata.continue = encodeContinue(`${last?.metadata.namespace ?? ''}/${last?.metadata.name ?? ''}`, this.store.resourceVersion);
      items = items.slice(0, limit);
    }
    if (wantsTable(req.headers.accept)) {
      sendJson(res, 200, renderTable(t.type, items, metadata));
      return;
    }
    // The API server leaves kind/apiVersion off list items.
    const stripped = items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
    sendJson(res, 200, { kind: `${t.type.kind}List`, apiVersion: apiVersionOf(t.type), metadata, items: stripped });
  }

  private item(req: IncomingMessage, res: ServerResponse, t: Target, name: string, method: string, body: string): void {
    const { type, namespace } = t;
    const contentType = req.headers['content-type'] ?? '';
    const current = (): KubeObject => {
      const o = this.store.get(type.resource, namespace, name);
      if (o === undefined) throw notFound(type.resource, name, type.group);
      return o;
    };
    switch (method) {
      case 'GET':
        if (wantsTable(req.headers.accept))
          sendJson(res, 200, renderTable(type, [current()], { resourceVersion: String(this.store.resourceVersion) }));
        else sendJson(res, 200, current());
        return;
      case 'DELETE':
        if (!type.verbs.includes('delete')) break;
        sendJson(res, 200, this.store.delete(type.resource, namespace, name, type.group));
        return;
      case 'PUT': {
        const next = parseObject(body) as Partial<KubeObject>;
        if (next.metadata?.name !== undefined && next.metadata.name !== name)
          throw badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`);
        const base = current();
        const obj = {
          ...next,
          kind: type.kind,
          apiVersion: apiVersionOf(type),
          metadata: { ...base.metadata, ...next.metadata, name },
        } as KubeObject;
        sendJson(res, 200, this.store.update(type.resource, obj, next.metadata?.resourceVersion, type.group));
        return;
      }
      case 'PATCH': {
        const base = current();
        let patch: unknown;
        try {
          patch = JSON.parse(body);
        } catch {
          throw badRequest(`error decoding patch: invalid JSON`);
        }
        const patched = applyPatch(contentType, base, patch) as unknown as KubeObject;
        if (typeof patched !== 'object' || Array.isArray(patched) || typeof patched.metadata !== 'object') {
          throw new KubeStatusError(
            kubeStatus(422, 'Invalid', `${type.resource} "${name}" is invalid: the patch produced a malformed object`),
          );
        }
        if (patched.metadata.name !== name)
          throw new KubeStatusError(
            kubeStatus(422, 'Invalid', `${type.resource} "${name}" is invalid: metadata.name: Invalid value: field is immutable`),
          );
        const next = {
          ...patched,
          kind: type.kind,
          apiVersion: apiVersionOf(type),
          metadata: { ...patched.metadata, ...(namespace === undefined ? {} : { namespace }) },
        };
        sendJson(res, 200, this.store.update(type.resource, next, patched.metadata.resourceVersion, type.group));
        return;
      }
      default:
        break;
    }
    throw new KubeStatusError(kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
  }
}

function encodeContinue(afterKey: string, rv: number): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: afterKey })).toString('base64');
}

function decodeContinue(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { start?: unknown };
    if (typeof parsed.start === 'string') return parsed.start;
  } catch {
    // fall through
  }
  throw badRequest('continue key is not valid: malformed token');
}

function parseObject(body: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(body);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw badRequest('the object provided is unrecognized (must be a JSON object)');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) reject(new Error('too large'));
      else chunks.push(c);
    });
    req.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' }).end(JSON.stringify(body));
}

function sendStatus(res: ServerResponse, status: { readonly code: number }): void {
  sendJson(res, status.code, status);
}
