/**
 * Registration selectors of simulated workloads, as a k8s workload attestor would report them,
 * and SPIRE's entry-matching rule: an entry matches a request when every selector of the entry
 * is among the request's selectors (entry ⊆ request).
 */
import type { SpireSelector } from '../../ports/spire.port.js';
import type { SimWorkload } from '../world.js';

/** The pod name of a workload: its id after "<location>/" (else after the last "/"). */
export function podNameOf(w: Pick<SimWorkload, 'id' | 'location'>): string {
  if (w.id.startsWith(`${w.location}/`)) return w.id.slice(w.location.length + 1);
  return w.id.slice(w.id.lastIndexOf('/') + 1);
}

/**
 * The selectors of a workload's registration entry (and what its pod attests with):
 * `k8s:ns:<location>`, `k8s:sa:<sa>` (from a SPIFFE ID path /ns/<ns>/sa/<sa>, else the pod name
 * without a trailing "-<n>"), `k8s:pod-name:<pod name>`. The pod name makes the entry unique, so a
 * subscription with these selectors gets exactly this workload's SVID.
 */
export function workloadSelectors(w: Pick<SimWorkload, 'id' | 'location' | 'spiffeId'>): SpireSelector[] {
  const pod = podNameOf(w);
  return [...accountSelectors(w), { type: 'k8s', value: `pod-name:${pod}` }];
}

/** The selectors of a service-account registration entry: `k8s:ns:<location>`, `k8s:sa:<sa>` (no pod name). */
export function accountSelectors(w: Pick<SimWorkload, 'id' | 'location' | 'spiffeId'>): SpireSelector[] {
  const sa = /\/ns\/[^/]+\/sa\/([^/]+)/.exec(w.spiffeId)?.[1] ?? podNameOf(w).replace(/-\d+$/, '');
  return [
    { type: 'k8s', value: `ns:${w.location}` },
    { type: 'k8s', value: `sa:${sa}` },
  ];
}

/** "type:value" keys of selectors, for set comparisons. */
export function selectorKeys(selectors: readonly SpireSelector[]): Set<string> {
  return new Set(selectors.map((s) => `${s.type}:${s.value}`));
}

/** SPIRE's rule: the entry matches when all its selectors are among the requested ones. */
export function entryMatches(entry: ReadonlySet<string>, requested: ReadonlySet<string>): boolean {
  if (entry.size === 0) return false;
  for (const k of entry) if (!requested.has(k)) return false;
  return true;
}
