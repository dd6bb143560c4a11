/**
 * A ListWatch (client-node's informer) that does not give up: client-node already resumes after
 * a server-side close and re-lists after 410 Gone, but stops for good on any other error. This
 * wrapper reports the error as a KubeFailure and restarts with capped exponential backoff.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeFailure } from '../../ports/kubernetes.port.js';
import { toKubeFailure } from './kube-failure.js';

/** Backoff between restarts: initialMs · 2^(n-1), capped at maxMs, ±20 % jitter. */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** What one informer watches. */
export interface InformerSpec<T extends KubernetesObject> {
  /** Label for messages and `degraded`: "pods", "configmaps spire/spire-bundle". */
  readonly resource: string;
  /** Watch path, e.g. /api/v1/pods or /api/v1/namespaces/spire/configmaps. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

/** Callbacks of the informer. */
export interface InformerEvents {
  /** The cache changed (or was re-listed). */
  readonly onChange: () => void;
  /** The informer failed; it restarts after `retryInMs`. */
  readonly onFailure: (failure: KubeFailure, retryInMs: number) => void;
}

/** One resource's cache, kept alive through errors. */
export class ResilientInformer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private closed = false;
  private failures = 0;
  private startedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private listedOnce = false;
  private failing = false;
  private phase: 'list' | 'watch' = 'list';

  /** Builds (does not start) the informer. */
  constructor(
    kc: KubeConfig,
    private readonly spec: InformerSpec<T>,
    private readonly endpoint: string,
    private readonly events: InformerEvents,
    private readonly backoff: BackoffPolicy,
  ) {
    const list = async (): Promise<KubernetesListObject<T>> => {
      this.phase = 'list';
      const result = await spec.list();
      this.phase = 'watch';
      this.listedOnce = true;
      this.failing = false;
      // An empty list fires no add/delete: announce the (re)sync itself. Consumers react later (timer).
      this.events.onChange();
      return result;
    };
    this.lw = new ListWatch<T>(spec.path, new Watch(kc), list, false, spec.labelSelector, spec.fieldSelector);
    this.lw.on('change', () => {
      this.events.onChange();
    });
    this.lw.on('connect', () => {
      this.events.onChange();
    });
    this.lw.on('error', (err: unknown) => {
      this.handleError(err);
    });
  }

  /** The resource label. */
  get resource(): string {
    return this.spec.resource;
  }

  /** True once a list succeeded. */
  get synced(): boolean {
    return this.listedOnce;
  }

  /** True from an error until the next successful list. */
  get degraded(): boolean {
    return this.failing;
  }

  /** The cached objects. */
  items(): readonly T[] {
    return this.lw.list();
  }

  /** Starts listing and watching. */
  start(): void {
    if (this.closed) return;
    this.startedAt = Date.now();
    this.lw.start().catch((err: unknown) => {
      this.handleError(err);
    });
  }

  /** Stops for good; no callback fires afterwards. */
  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.lw.stop().catch(() => undefined);
  }

  private handleError(err: unknown): void {
    if (this.closed || this.timer !== null) return;
    // A run that stayed up longer than the cap counts as healthy: start the backoff over.
    if (Date.now() - this.startedAt > this.backoff.maxMs) this.failures = 0;
    this.failures += 1;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(this.failures - 1, 30));
    const delay = Math.max(1, Math.round(base * (0.8 + Math.random() * 0.4)));
    this.failing = true;
    this.events.onFailure(toKubeFailure(err, this.phase, this.endpoint, `${this.spec.resource} (${this.spec.path})`), delay);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.start();
    }, delay);
  }
}
