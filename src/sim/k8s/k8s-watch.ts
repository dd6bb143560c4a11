/**
 * One watch stream of the fake API server: chunked newline-delimited JSON watch events, starting
 * from a resourceVersion (or from a synthetic ADDED per existing object), with label/field
 * selector transitions (an object leaving the selection is DELETED, entering is ADDED),
 * bookmarks, timeoutSeconds, and 410 Expired as an ERROR event like the real API server.
 */
import type { ServerResponse } from 'node:http';
import { apiVersionOf, type KubeResourceType } from './k8s-resources.js';
import { expired, kubeStatus } from './k8s-status.js';
import type { KubeChange, KubeObject, KubeStore } from './k8s-store.js';

/** What a watch selects. */
export interface WatchScope {
  readonly type: KubeResourceType;
  /** undefined: every namespace (or a cluster-scoped kind). */
  readonly namespace: string | undefined;
  /** True when the object is selected by the label and field selectors. */
  readonly selects: (o: KubeObject) => boolean;
}

/** Watch query parameters the fake honours. */
export interface WatchParams {
  /** '' or '0': start with ADDED for every current object. */
  readonly resourceVersion: string;
  readonly allowWatchBookmarks: boolean;
  /** Server-side close after this long; null: only on close() or client disconnect. */
  readonly timeoutMs: number | null;
  readonly bookmarkIntervalMs: number;
  /** Answer 410 Expired right away (fault injection). */
  readonly forceExpired: boolean;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** An open watch; `close()` ends the response cleanly (idempotent). */
export class WatchStream {
  private closed = false;
  private readonly cleanups: (() => void)[] = [];

  /** Starts streaming to `res` (status 200 is written at once). `onClosed` runs once at the end. */
  constructor(
    private readonly store: KubeStore,
    private readonly scope: WatchScope,
    params: WatchParams,
    private readonly res: ServerResponse,
    private readonly onClosed: () => void,
  ) {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    res.on('close', () => {
      this.close();
    });
    this.begin(params);
  }

  /** Ends the stream (the client sees a normal end of body). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.cleanups) c();
    if (!this.res.writableEnded) this.res.end();
    this.onClosed();
  }

  private begin(p: WatchParams): void {
    const rv = p.resourceVersion;
    if (rv !== '' && rv !== '0' && !/^\d+$/.test(rv)) {
      this.send('ERROR', kubeStatus(400, 'BadRequest', `invalid resource version: ${JSON.stringify(rv)}`));
      this.close();
      return;
    }
    if (p.forceExpired || (/^\d+$/.test(rv) && rv !== '0' && Number(rv) < this.store.oldestResumable)) {
      this.send('ERROR', expired(rv === '' ? '0' : rv, this.store.oldestResumable));
      this.close();
      return;
    }
    if (rv === '' || rv === '0') {
      for (const o of this.store.peek(this.scope.type.resource, this.scope.namespace)) {
        if (this.scope.selects(o)) this.send('ADDED', o);
      }
    } else {
      const backlog = this.store.changesSince(this.scope.type.resource, Number(rv));
      if (backlog === 'expired') {
        this.send('ERROR', expired(rv, this.store.oldestResumable));
        this.close();
        return;
      }
      for (const c of backlog) this.deliver(c);
    }
    // Subscribing in the same tick as reading the backlog: no change can fall between them.
    this.cleanups.push(
      this.store.subscribe((c) => {
        this.deliver(c);
      }),
    );
    if (p.timeoutMs !== null) {
      const t = setTimeout(() => {
        this.close();
      }, p.timeoutMs);
      this.cleanups.push(() => {
        clearTimeout(t);
      });
    }
    if (p.allowWatchBookmarks) {
      const t = setInterval(() => {
        this.bookmark();
      }, p.bookmarkIntervalMs);
      this.cleanups.push(() => {
        clearInterval(t);
      });
    }
  }

  /** Sends a BOOKMARK carrying the store's current resourceVersion. */
  bookmark(): void {
    this.send('BOOKMARK', {
      kind: this.scope.type.kind,
      apiVersion: apiVersionOf(this.scope.type),
      metadata: { resourceVersion: String(this.store.resourceVersion) },
    });
  }

  private deliver(c: KubeChange): void {
    if (this.closed || c.resource !== this.scope.type.resource) return;
    const inScope = (o: KubeObject | undefined): boolean =>
      o !== undefined && (this.scope.namespace === undefined || o.metadata.namespace === this.scope.namespace) && this.scope.selects(o);
    const now = inScope(c.object);
    const before = c.type === 'MODIFIED' ? inScope(c.previous) : now;
    if (c.type === 'MODIFIED' && now !== before) this.send(now ? 'ADDED' : 'DELETED', c.object);
    else if (now) this.send(c.type, c.object);
  }

  private send(type: EventType, object: object): void {
    if (this.closed || this.res.writableEnded) return;
    this.res.write(`${JSON.stringify({ type, object })}\n`);
  }
}
