/**
 * Subresources and kind-specific checks of the fake API server: GET
 * /api/v1/namespaces/{ns}/pods/{name}/log (text/plain, `container`, `tailLines`, `limitBytes`,
 * the API server's errors for a missing or ambiguous container), and the validation the API server
 * applies to a created core/v1 Event.
 */
import { badRequest, KubeStatusError, kubeStatus, notFound } from './k8s-status.js';
import type { KubeObject, KubeStore } from './k8s-store.js';

/** Where pod logs come from: the full log of one container (lines ending in "\n"). */
export type PodLogSource = (pod: KubeObject, container: string) => string;

/** `/api/v1/namespaces/{ns}/pods/{name}/log` → namespace and name, else undefined. */
export function parsePodLogPath(path: string): { readonly namespace: string; readonly name: string } | undefined {
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log\/?$/.exec(path);
  if (m === null) return undefined;
  return { namespace: decodeURIComponent(m[1] ?? ''), name: decodeURIComponent(m[2] ?? '') };
}

function nonNegativeInt(q: URLSearchParams, key: string, min: number): number | undefined {
  const raw = q.get(key);
  if (raw === null) return undefined;
  if (!/^-?\d+$/.test(raw)) throw badRequest(`invalid value for ${key}: ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min)
    throw new KubeStatusError(
      kubeStatus(422, 'Invalid', `PodLogOptions "" is invalid: ${key}: Invalid value: ${n}: must be greater than or equal to ${min}`),
    );
  return n;
}

/** The body of a pod log request: the container's log, cut by tailLines and limitBytes. Throws KubeStatusError as the API server. */
export function podLogText(
  store: KubeStore,
  source: PodLogSource | undefined,
  namespace: string,
  name: string,
  q: URLSearchParams,
): string {
  const pod = store.get('pods', namespace, name);
  if (pod === undefined) throw notFound('pods', name);
  const containers = ((pod.spec as { containers?: { name: string }[] } | undefined)?.containers ?? []).map((c) => c.name);
  let container = q.get('container') ?? '';
  if (container === '') {
    if (containers.length !== 1)
      throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`);
    container = containers[0] ?? '';
  } else if (!containers.includes(container)) {
    throw badRequest(`container ${container} is not valid for pod ${name}`);
  }
  const tail = nonNegativeInt(q, 'tailLines', 0);
  const limit = nonNegativeInt(q, 'limitBytes', 1);
  let text = source === undefined ? '' : source(pod, container);
  if (tail !== undefined) {
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    text =
      tail === 0
        ? ''
        : lines
            .slice(-tail)
            .map((l) => `${l}\n`)
            .join('');
  }
  if (limit !== undefined) text = Buffer.from(text, 'utf8').subarray(0, limit).toString('utf8');
  return text;
}

/** The API server's create-time check of a core/v1 Event in `namespace` (legacy validation: the involved object's namespace must match). */
export function validateEvent(event: Record<string, unknown>, namespace: string | undefined): void {
  const ref: unknown = event.involvedObject;
  const name = (event.metadata as { name?: unknown } | undefined)?.name;
  const ns = typeof ref === 'object' && ref !== null ? (ref as { namespace?: unknown }).namespace : undefined;
  const refNs = typeof ns === 'string' ? ns : '';
  if (refNs !== (namespace ?? '')) {
    throw new KubeStatusError(
      kubeStatus(
        422,
        'Invalid',
        `Event "${typeof name === 'string' ? name : ''}" is invalid: involvedObject.namespace: Invalid value: "${refNs}": does not match event.namespace`,
        { kind: 'Event' },
      ),
    );
  }
}
