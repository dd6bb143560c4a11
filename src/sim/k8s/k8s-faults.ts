/**
 * Fault injection for the fake API server: failing requests, expiring watches and closing open
 * watches, so tests and the simulator can reproduce what a real control plane does under stress.
 */

/** How a faulted request is answered. */
export type KubeFaultMode =
  /** A real Status body with this HTTP code (reason InternalError for 500, ServiceUnavailable for 503, …). */
  | { readonly kind: 'status'; readonly code: number }
  /** HTTP 200, Content-Type application/json, a body that is not JSON. */
  | { readonly kind: 'garbage' }
  /** The TCP connection is destroyed before any response. */
  | { readonly kind: 'reset' };

/** Which requests a fault applies to. */
export interface KubeFaultMatch {
  /** Exact URL path (no query), or a pattern tested against it. */
  readonly path: string | RegExp;
  /** HTTP method; any when absent. */
  readonly method?: string;
  /** true: watch requests only; false: non-watch only; absent: both. */
  readonly watch?: boolean;
}

interface RequestRule {
  readonly match: KubeFaultMatch;
  readonly mode: KubeFaultMode;
  remaining: number;
}

interface Interceptor {
  readonly match: KubeFaultMatch;
  readonly hook: () => void;
  remaining: number;
}

/** One request as the server saw it (for assertions). */
export interface KubeRequestRecord {
  readonly method: string;
  /** Path plus query, as sent. */
  readonly url: string;
  readonly watch: boolean;
}

const LOG_LIMIT = 1000;

/** The fault switchboard of one FakeKubeApiServer (its `faults` property). */
export class KubeFaults {
  private rules: RequestRule[] = [];
  private interceptors: Interceptor[] = [];
  private readonly expiries = new Map<string, number>();
  private closer: () => number = () => 0;
  private readonly log: KubeRequestRecord[] = [];

  /** Answers the next `times` requests matching `match` with `mode` (Infinity: until clear()). */
  failRequests(match: KubeFaultMatch, mode: KubeFaultMode = { kind: 'status', code: 500 }, times = 1): void {
    this.rules.push({ match, mode, remaining: times });
  }

  /**
   * Runs `hook` right before the server handles each of the next `times` requests matching
   * `match` (after its body arrived): a concurrent writer, e.g. a change between a client's read
   * and its write that makes the write's resourceVersion stale (409 Conflict).
   */
  interceptRequests(match: KubeFaultMatch, hook: () => void, times = 1): void {
    this.interceptors.push({ match, hook, remaining: times });
  }

  /** The next `count` watches on `resource` ("pods") get an ERROR event with Status 410 Expired, then close. */
  expireNextWatches(resource: string, count = 1): void {
    this.expiries.set(resource, (this.expiries.get(resource) ?? 0) + count);
  }

  /** Ends every open watch stream now (clients see a clean server-side close). Returns how many. */
  closeWatches(): number {
    return this.closer();
  }

  /** Drops every pending request fault, interceptor and watch expiry. */
  clear(): void {
    this.rules = [];
    this.interceptors = [];
    this.expiries.clear();
  }

  /** Requests served so far (the last 1000), oldest first. */
  requests(): readonly KubeRequestRecord[] {
    return [...this.log];
  }

  /** @internal The server registers how to close its watches. */
  bindWatchCloser(closer: () => number): void {
    this.closer = closer;
  }

  /** @internal Records a request and returns the fault to apply to it, consuming one use. */
  takeRequestFault(method: string, path: string, url: string, watch: boolean): KubeFaultMode | undefined {
    this.log.push({ method, url, watch });
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
    const rule = this.rules.find((r) => r.remaining > 0 && matches(r.match, method, path, watch));
    if (rule === undefined) return undefined;
    rule.remaining -= 1;
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return rule.mode;
  }

  /** @internal Runs (consuming one use each) the interceptors matching a request. */
  runInterceptors(method: string, path: string, watch: boolean): void {
    const due = this.interceptors.filter((i) => i.remaining > 0 && matches(i.match, method, path, watch));
    for (const i of due) i.remaining -= 1;
    this.interceptors = this.interceptors.filter((i) => i.remaining > 0);
    for (const i of due) i.hook();
  }

  /** @internal True (consuming one) when the next watch on `resource` must expire. */
  takeWatchExpiry(resource: string): boolean {
    const n = this.expiries.get(resource) ?? 0;
    if (n <= 0) return false;
    this.expiries.set(resource, n - 1);
    return true;
  }
}

function matches(m: KubeFaultMatch, method: string, path: string, watch: boolean): boolean {
  if (m.method !== undefined && m.method.toUpperCase() !== method) return false;
  if (m.watch !== undefined && m.watch !== watch) return false;
  return typeof m.path === 'string' ? m.path === path : m.path.test(path);
}
