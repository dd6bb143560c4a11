/**
 * bench:analyze — one analysis pass (`evaluate`: every detector plus correlation) over the latest
 * observations of 1,000 and 10,000 workloads: Envoy /certs and /stats, the agent's view of each
 * SVID, one agent per 50 workloads, the server bundle and the ConfigMap. A few percent of the
 * fleet is unhealthy so every detector has work. Reports the median and p95 time per pass and the
 * heap after each block of passes (it must not grow with the number of passes).
 * Target (issue 4): <= 100 ms per pass at 10,000 workloads.
 */
import { defaultAnalyzeThresholds, type AnalysisInput } from '../src/analyze/analysis-input.js';
import { evaluate } from '../src/analyze/evaluate.js';
import type { Observation } from '../src/knowledge/model/observation.js';
import type { Workload } from '../src/knowledge/model/workload.js';

const sizes = (process.env['BENCH_SIZES'] ?? '1000,10000').split(',').map(Number);
const PASSES = Number(process.env['BENCH_PASSES'] ?? '200');
const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const TTL = 3_600_000;

function fleet(n: number): AnalysisInput {
  const workloads: Workload[] = [];
  const obs: Observation[] = [];
  const ca = [{ serialNumber: 'a1', uriSans: ['spiffe://example.org'], validFromMs: NOW - 1e9, expiresAtMs: NOW + 1e9 }];
  obs.push({
    subject: 'trust-domain:example.org',
    source: 'spire.server.bundle',
    observedAt: NOW,
    stateSince: NOW - 3_600_000,
    data: {
      kind: 'spire.bundle',
      trustDomain: 'example.org',
      sequenceNumber: '1',
      authorities: [{ serialNumber: 'a1', expiresAtMs: NOW + 1e9 }],
      active: 'k1',
      prepared: null,
      old: null,
    },
  });
  obs.push({
    subject: 'configmap:spire/spire-bundle',
    source: 'k8s.bundle',
    observedAt: NOW,
    data: {
      kind: 'k8s.bundle',
      configMap: 'spire/spire-bundle',
      certificates: [{ serialNumber: 'a1', expiresAtMs: NOW + 1e9 }],
      problems: [],
    },
  });
  const nodes = Math.ceil(n / 50);
  for (let k = 0; k < nodes; k++) {
    obs.push({
      subject: `agent:node-${k}`,
      source: 'spire.agent.debug',
      observedAt: NOW,
      stateSince: NOW - 60_000,
      data: {
        kind: 'spire.agent',
        node: `node-${k}`,
        agentId: `spiffe://example.org/agent/${k}`,
        lastSyncSuccessMs: k === 3 ? NOW - 600_000 : NOW - 2_000,
        agentSvidExpiresAtMs: NOW + TTL,
        cachedX509Svids: 50,
      },
    });
  }
  for (let i = 0; i < n; i++) {
    const id = `ns-${i % 97}/app-${i}`;
    const node = `node-${i % nodes}`;
    workloads.push({
      id,
      spiffeId: `spiffe://example.org/ns/ns-${i % 97}/sa/app-${i}`,
      trustDomain: 'example.org',
      platform: 'kubernetes',
      location: `ns-${i % 97}`,
      node,
      envoyAdminUrl: `http://10.0.${i >> 8}.${i & 255}:9901`,
    });
    const stuck = i % 37 === 0;
    const leaf = {
      serialNumber: `s${i}`,
      uriSans: [workloads[i]?.spiffeId ?? ''],
      validFromMs: stuck ? NOW - 0.8 * TTL : NOW - 0.2 * TTL,
      expiresAtMs: (stuck ? NOW - 0.8 * TTL : NOW - 0.2 * TTL) + TTL,
    };
    obs.push({
      subject: id,
      source: 'envoy.certs',
      observedAt: NOW,
      data: { kind: 'envoy.certs', chain: [leaf, ca[0] ?? leaf], caCerts: i % 53 === 0 ? [] : ca },
    });
    obs.push({
      subject: id,
      source: 'spire.delegated.svid',
      observedAt: NOW,
      data: { kind: 'spire.svid', node, svid: { ...leaf, validFromMs: NOW - 0.2 * TTL, expiresAtMs: NOW + 0.8 * TTL } },
    });
    obs.push({
      subject: id,
      source: 'envoy.stats',
      observedAt: NOW,
      stateSince: i % 41 === 0 ? NOW - 1_000 : NOW - 3_600_000,
      data: {
        kind: 'envoy.stats',
        sds: [],
        secretsNotReady: 0,
        serverState: 0,
        ssl: [
          {
            scope: 'listener.0.0.0.0_15001',
            handshake: 1_000,
            connectionError: i % 41 === 0 ? 50 : 0,
            failVerifyError: 0,
            failVerifySan: 0,
            noCertificate: 0,
          },
        ],
      },
    });
  }
  return {
    now: NOW,
    workloads,
    observations: new Map(obs.map((o) => [`${o.subject}|${o.source}`, o])),
    openIncidents: [],
    config: { ...defaultAnalyzeThresholds, rotation: { rotateAtFraction: 0.5, graceMs: 5_000 }, staleAfterMs: 30_000 },
  };
}

const gc = (globalThis as { gc?: () => void }).gc;
for (const n of sizes) {
  const input = fleet(n);
  const first = evaluate(input);
  const byType = new Map<string, number>();
  for (const i of first.open) byType.set(i.type, (byType.get(i.type) ?? 0) + 1);
  const times: number[] = [];
  const heaps: number[] = [];
  for (let p = 0; p < PASSES; p++) {
    const t0 = performance.now();
    evaluate(input);
    times.push(performance.now() - t0);
    if ((p + 1) % (PASSES / 4) === 0) {
      gc?.();
      heaps.push(process.memoryUsage().heapUsed / 1_048_576);
    }
  }
  times.sort((a, b) => a - b);
  const q = (f: number): string => (times[Math.min(times.length - 1, Math.floor(f * times.length))] ?? 0).toFixed(1);
  console.log(
    `\n${n} workloads, ${input.observations.size} observations; one pass opens ${first.open.length} incidents (${[...byType].map(([t, c]) => `${t} ${c}`).join(', ')})`,
  );
  console.log(`  evaluate: median ${q(0.5)} ms, p95 ${q(0.95)} ms over ${PASSES} passes`);
  console.log(
    `  heap after each quarter of the passes${gc === undefined ? ' (run with --expose-gc for exact figures)' : ''}: ${heaps.map((h) => `${h.toFixed(1)} MB`).join(', ')}`,
  );
}
