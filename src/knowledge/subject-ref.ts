/**
 * What an observation, incident or action is about, as one typed reference. Stored and shown as a
 * string (knowledge keys, audit entries, job targets); this file is the one place that string is
 * built and read, so no other code slices "agent:" or "trust-domain:" prefixes by hand.
 *
 *   workload            "<namespace>/<name>" (Kubernetes) or "<project>/<region>/<service>" (Cloud Run)
 *   agent               "agent:<node>"               a node's SPIRE agent
 *   trust-domain        "trust-domain:<td>"          the SPIRE server's trust domain (its bundle)
 *   configmap           "configmap:<ns>/<name>"      the trust-bundle ConfigMap
 *   secret              "secret:<name>"              a Secret Manager secret, "projects/<p>/secrets/<s>"
 *   fleet               "fleet"                      the whole fleet (fleet_storm)
 *   kubernetes-resource "kubernetes:<resource>"      a Kubernetes list/watch that failed (probe errors)
 *   cloudrun-location   "cloudrun:<project>/<loc>"   a Cloud Run ListServices that failed (probe errors)
 */

export type SubjectRef =
  | { readonly kind: 'workload'; readonly id: string }
  | { readonly kind: 'agent'; readonly node: string }
  | { readonly kind: 'trust-domain'; readonly trustDomain: string }
  | { readonly kind: 'configmap'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'secret'; readonly name: string }
  | { readonly kind: 'fleet' }
  | { readonly kind: 'kubernetes-resource'; readonly resource: string }
  | { readonly kind: 'cloudrun-location'; readonly project: string; readonly location: string };

export type SubjectKind = SubjectRef['kind'];

/** The subject of the one systemic incident (fleet_storm). */
export const FLEET_SUBJECT = 'fleet';

const AGENT = 'agent:';
const TRUST_DOMAIN = 'trust-domain:';
const CONFIGMAP = 'configmap:';
const SECRET = 'secret:';
const KUBERNETES = 'kubernetes:';
const CLOUDRUN = 'cloudrun:';

/** A part of a subject: not empty, no whitespace (subjects are keys and ids). */
const PART = /^\S+$/;
/** A path segment: a part without '/'. */
const SEGMENT = /^[^\s/]+$/;

/** "a/b" → ["a", "b"] when there are exactly two segments. */
function pair(s: string): readonly [string, string] | null {
  const parts = s.split('/');
  const [a, b] = parts;
  return parts.length === 2 && a !== undefined && b !== undefined && SEGMENT.test(a) && SEGMENT.test(b) ? [a, b] : null;
}

/**
 * The subject `s` refers to, or null when it is none of the forms above (empty, whitespace, an
 * unknown "prefix:", a prefix with nothing after it, a workload id with other than 2 or 3 segments).
 */
export function parseSubject(s: string): SubjectRef | null {
  if (s === FLEET_SUBJECT) return { kind: 'fleet' };
  const rest = (prefix: string): string | null =>
    s.startsWith(prefix) && PART.test(s.slice(prefix.length)) ? s.slice(prefix.length) : null;
  if (s.startsWith(AGENT)) {
    const node = rest(AGENT);
    return node === null || node.includes('/') ? null : { kind: 'agent', node };
  }
  if (s.startsWith(TRUST_DOMAIN)) {
    const trustDomain = rest(TRUST_DOMAIN);
    return trustDomain === null || trustDomain.includes('/') ? null : { kind: 'trust-domain', trustDomain };
  }
  if (s.startsWith(CONFIGMAP)) {
    const p = pair(s.slice(CONFIGMAP.length));
    return p === null ? null : { kind: 'configmap', namespace: p[0], name: p[1] };
  }
  if (s.startsWith(SECRET)) {
    const name = rest(SECRET);
    return name === null ? null : { kind: 'secret', name };
  }
  if (s.startsWith(KUBERNETES)) {
    const resource = rest(KUBERNETES);
    return resource === null || resource.includes('/') ? null : { kind: 'kubernetes-resource', resource };
  }
  if (s.startsWith(CLOUDRUN)) {
    const p = pair(s.slice(CLOUDRUN.length));
    return p === null ? null : { kind: 'cloudrun-location', project: p[0], location: p[1] };
  }
  const segments = s.split('/');
  // A workload id never carries a "prefix:" of its own in its first segment.
  if ((segments.length === 2 || segments.length === 3) && segments.every((x) => SEGMENT.test(x)) && !/^[a-z-]+:/.test(s)) {
    return { kind: 'workload', id: s };
  }
  return null;
}

/** The string form of a subject (the inverse of parseSubject for every well-formed reference). */
export function formatSubject(ref: SubjectRef): string {
  switch (ref.kind) {
    case 'workload':
      return ref.id;
    case 'agent':
      return `${AGENT}${ref.node}`;
    case 'trust-domain':
      return `${TRUST_DOMAIN}${ref.trustDomain}`;
    case 'configmap':
      return `${CONFIGMAP}${ref.namespace}/${ref.name}`;
    case 'secret':
      return `${SECRET}${ref.name}`;
    case 'fleet':
      return FLEET_SUBJECT;
    case 'kubernetes-resource':
      return `${KUBERNETES}${ref.resource}`;
    case 'cloudrun-location':
      return `${CLOUDRUN}${ref.project}/${ref.location}`;
  }
}

/** "agent:<node>": the SPIRE agent on `node`. */
export const agentSubject = (node: string): string => formatSubject({ kind: 'agent', node });
/** "trust-domain:<td>": the SPIRE server's trust domain. */
export const trustDomainSubject = (trustDomain: string): string => formatSubject({ kind: 'trust-domain', trustDomain });
/** "configmap:<ns>/<name>": a trust-bundle ConfigMap. */
export const configMapSubject = (namespace: string, name: string): string => formatSubject({ kind: 'configmap', namespace, name });
/** "secret:<name>": a Secret Manager secret ("projects/<p>/secrets/<s>"). */
export const secretSubject = (name: string): string => formatSubject({ kind: 'secret', name });
/** "kubernetes:<resource>": where a failing Kubernetes list or watch is recorded. */
export const kubernetesResourceSubject = (resource: string): string => formatSubject({ kind: 'kubernetes-resource', resource });
/** "cloudrun:<project>/<location>": where a failing Cloud Run ListServices is recorded. */
export const cloudRunLocationSubject = (project: string, location: string): string =>
  formatSubject({ kind: 'cloudrun-location', project, location });

/** The node of an "agent:<node>" subject, or null for any other subject. */
export function agentNodeOf(subject: string): string | null {
  const ref = parseSubject(subject);
  return ref?.kind === 'agent' ? ref.node : null;
}

/** The trust domain of a "trust-domain:<td>" subject, or null for any other subject. */
export function trustDomainOf(subject: string): string | null {
  const ref = parseSubject(subject);
  return ref?.kind === 'trust-domain' ? ref.trustDomain : null;
}

/** The secret name of a "secret:<name>" subject, or null for any other subject. */
export function secretNameOf(subject: string): string | null {
  const ref = parseSubject(subject);
  return ref?.kind === 'secret' ? ref.name : null;
}

/** The namespace and name of a "configmap:<ns>/<name>" subject, or null for any other subject. */
export function configMapOf(subject: string): { readonly namespace: string; readonly name: string } | null {
  const ref = parseSubject(subject);
  return ref?.kind === 'configmap' ? { namespace: ref.namespace, name: ref.name } : null;
}

/** The kind of subject `s` is, or null when it is malformed. */
export function subjectKindOf(s: string): SubjectKind | null {
  return parseSubject(s)?.kind ?? null;
}
