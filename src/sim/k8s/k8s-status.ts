/**
 * meta/v1 Status objects as the Kubernetes API server writes them, and the error the fake
 * throws internally to answer with one.
 */

/** A meta/v1 Status (the body of every API error, and the object of a watch ERROR event). */
export interface KubeStatus {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure';
  readonly message: string;
  readonly reason: string;
  readonly details?: { readonly name?: string; readonly group?: string; readonly kind?: string };
  readonly code: number;
}

/** Builds a Failure Status. */
export function kubeStatus(code: number, reason: string, message: string, details?: KubeStatus['details']): KubeStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code,
  };
}

/** An error the fake answers with its Status (thrown inside request handling). */
export class KubeStatusError extends Error {
  override readonly name = 'KubeStatusError';

  /** Wraps `status`; the message is the Status message. */
  constructor(readonly status: KubeStatus) {
    super(status.message);
  }
}

/** 404 NotFound for `<resource> "<name>"`, as the API server words it. */
export function notFound(resource: string, name: string, group = ''): KubeStatusError {
  const what = group === '' ? resource : `${resource}.${group}`;
  return new KubeStatusError(
    kubeStatus(404, 'NotFound', `${what} "${name}" not found`, { name, ...(group === '' ? {} : { group }), kind: resource }),
  );
}

/** 409 Conflict for a write carrying a stale metadata.resourceVersion. */
export function conflict(resource: string, name: string, group = ''): KubeStatusError {
  const what = group === '' ? resource : `${resource}.${group}`;
  return new KubeStatusError(
    kubeStatus(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${what} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, ...(group === '' ? {} : { group }), kind: resource },
    ),
  );
}

/** 410 Expired for a watch or list from a resourceVersion older than the retained window. */
export function expired(requested: string, oldest: number): KubeStatus {
  return kubeStatus(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

/** 400 BadRequest. */
export function badRequest(message: string): KubeStatusError {
  return new KubeStatusError(kubeStatus(400, 'BadRequest', message));
}
