/** Reachability of the knowledge connection (adapters/redis/redis-link.ts implements it). */
export interface LinkState {
  readonly reachable: boolean;
  /** When `reachable` last changed (epoch ms). */
  readonly since: number;
  readonly lastError: string | null;
}

/** A change of reachability: `down` once per outage, `up` when the connection is usable again. */
export type LinkChange = { readonly kind: 'down'; readonly error: string | null } | { readonly kind: 'up'; readonly downForMs: number };

/** What the daemon needs to know about its Redis connection. */
export interface LinkWatch {
  state(): LinkState;
  onChange(listener: (c: LinkChange) => void): void;
}

/** /readyz: ready, or the reasons it is not. */
export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

/** Everything readiness is judged on. */
export interface ReadinessInput {
  readonly running: boolean;
  readonly now: number;
  readonly redis: LinkState | null;
  /** Every stage actor's xstate status ('active' while it runs). */
  readonly actors: readonly { readonly name: string; readonly status: string }[];
  /** When each periodic stage (monitor, analyze, plan) last completed a pass (or started, before its first). */
  readonly lastPassAt: ReadonlyMap<string, number>;
  /** A stage with no completed pass for longer than this is stalled. */
  readonly stallAfterMs: number;
}

/** Ready when running, Redis reachable, every stage actor active and no periodic stage stalled. */
export function readinessOf(input: ReadinessInput): Readiness {
  const reasons: string[] = [];
  if (!input.running) reasons.push('daemon not running');
  const r = input.redis;
  if (r !== null && !r.reachable)
    reasons.push(
      `redis unreachable since ${new Date(r.since).toISOString()}${r.lastError === null ? '' : ` (${r.lastError})`}: nothing is decided or started`,
    );
  for (const a of input.actors) if (a.status !== 'active') reasons.push(`stage ${a.name} ${a.status}`);
  for (const [stage, at] of input.lastPassAt) {
    const age = input.now - at;
    if (age > input.stallAfterMs) reasons.push(`stage ${stage} stalled: no pass completed for ${Math.round(age / 1000)}s`);
  }
  return { ready: reasons.length === 0, reasons };
}

/** Default stall threshold: a few intervals plus the longest backoff, at least 30 s. */
export function defaultStallAfterMs(intervals: {
  readonly monitorMs: number;
  readonly analyzeMs: number;
  readonly planMs: number;
  readonly maxBackoffMs: number;
}): number {
  return Math.max(30_000, 3 * Math.max(intervals.monitorMs, intervals.analyzeMs, intervals.planMs) + 2 * intervals.maxBackoffMs);
}
