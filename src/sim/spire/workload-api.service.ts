/**
 * The fake agent's Workload API (SpiffeWorkloadAPI, no package), as SPIRE serves it: the
 * `workload.spiffe.io: true` header is required (InvalidArgument "security header missing from
 * request"), a caller with no identity gets PermissionDenied "no identity issued", the first
 * message goes out at once and every later one carries the full state, pushed on change only.
 */
import * as grpc from '@grpc/grpc-js';
import { concatDer } from '../../adapters/spire/der.js';
import type { FakeAgentView, ServedIdentity } from './agent-view.js';
import { statusError } from './grpc-endpoint.js';

/** The header SPIRE's middleware checks. */
const SECURITY_HEADER = 'workload.spiffe.io';

/** True when the call carries `workload.spiffe.io: true` (first value, exact match). */
export function hasSecurityHeader(md: grpc.Metadata): boolean {
  return md.get(SECURITY_HEADER)[0] === 'true';
}

type Stream = grpc.ServerWritableStream<object, object>;

/** What a stream would send now: a cheap key (serials) and the message, built only when the key changed. */
export interface RenderedState {
  readonly key: string;
  build(): object;
}

/** "spiffeId=serial,…" of identities: changes exactly when an SVID rotates or the set changes. */
export function identitiesKey(ids: readonly ServedIdentity[]): string {
  return ids.map((i) => `${i.spiffeId}=${i.cert.serialHex}`).join(',');
}

/**
 * Streams `render()` to the call: at once, then whenever its key changes. `render` returning
 * null ends the call with PermissionDenied "no identity issued".
 */
export function streamFullState(view: FakeAgentView, call: Stream, render: () => RenderedState | null): void {
  let lastKey: string | undefined;
  let done = false;
  const push = (): void => {
    if (done) return;
    const out = render();
    if (out === null) {
      stop();
      call.emit('error', statusError(grpc.status.PERMISSION_DENIED, 'no identity issued'));
      return;
    }
    if (out.key === lastKey) return;
    lastKey = out.key;
    call.write(out.build());
    view.recordSent();
  };
  const unsubscribe = view.subscribe(push);
  function stop(): void {
    done = true;
    unsubscribe();
  }
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('error', stop);
  push();
}

/** Handlers for the SpiffeWorkloadAPI service definition. */
export function workloadApiHandlers(view: FakeAgentView): grpc.UntypedServiceImplementation {
  const guard = (call: Stream): boolean => {
    if (hasSecurityHeader(call.metadata)) return true;
    call.emit('error', statusError(grpc.status.INVALID_ARGUMENT, 'security header missing from request'));
    return false;
  };
  return {
    FetchX509SVID: (call: Stream) => {
      if (!guard(call)) return;
      streamFullState(view, call, () => {
        const ids = view.callerIdentities();
        if (ids.length === 0) return null;
        const bundle = view.bundle();
        return {
          key: `${identitiesKey(ids)}|${bundle.key}`,
          build: () => ({
            svids: ids.map((i) => ({
              spiffe_id: i.spiffeId,
              x509_svid: concatDer([i.cert.der]),
              x509_svid_key: i.keyDer,
              bundle: bundle.der,
              hint: '',
            })),
            crl: [],
            federated_bundles: {},
          }),
        };
      });
    },
    FetchX509Bundles: (call: Stream) => {
      if (!guard(call)) return;
      streamFullState(view, call, () => {
        if (view.callerIdentities().length === 0) return null;
        const bundle = view.bundle();
        return { key: bundle.key, build: () => ({ crl: [], bundles: { [view.trustDomainId]: bundle.der } }) };
      });
    },
  };
}
