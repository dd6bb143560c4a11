import { makeIncidentId, type Incident } from '../../src/knowledge/model/incident.js';
import type { SubjectFacts } from '../../src/plan/subject-facts.js';

/** An open rotation_failed incident on `subject`, opened at `openedAt`. */
export const rotationIncident = (subject: string, openedAt: number, explanation = 'stuck'): Incident => ({
  id: makeIncidentId('rotation_failed', subject, openedAt),
  type: 'rotation_failed',
  subject,
  status: 'open',
  openedAt,
  resolvedAt: null,
  explanation,
  evidence: [],
  history: [],
});

/** What a plan pass knows of a Kubernetes workload `subject` in namespace shop: nothing beyond that, unless `over` says. */
export const subjectFacts = (subject: string, over: Partial<SubjectFacts> = {}): SubjectFacts => ({
  subject,
  kind: 'workload',
  workload: null,
  trustDomain: 'example.org',
  spiffeId: null,
  namespace: 'shop',
  platform: 'kubernetes',
  labels: {},
  node: null,
  service: null,
  agentCanReattest: null,
  agentHealthy: null,
  serverHealthy: null,
  expiresAt: null,
  lifetimeMs: null,
  leafSerial: null,
  ...over,
});
