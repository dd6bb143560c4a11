/**
 * The fake agent's admin socket: spire.api.agent.delegatedidentity.v1.DelegatedIdentity and
 * spire.agent.debug.v1.Debug. Every caller counts as an authorized delegate (peer-credential
 * attestation is not simulated).
 */
import * as grpc from '@grpc/grpc-js';
import type { MintedCert } from '../certs.js';
import type { FakeAgentView, ServedIdentity } from './agent-view.js';
import { statusError } from './grpc-endpoint.js';
import { entryMatches, selectorKeys } from './selectors.js';
import { identitiesKey, streamFullState } from './workload-api.service.js';

interface SubscribeRequest {
  readonly selectors: readonly { readonly type: string; readonly value: string }[];
  readonly pid: number;
}

function svidMessage(i: ServedIdentity): object {
  const m = /^spiffe:\/\/([^/]+)(\/.*)?$/.exec(i.spiffeId);
  return {
    x509_svid: {
      cert_chain: [Buffer.from(i.cert.der)],
      id: { trust_domain: m?.[1] ?? '', path: m?.[2] ?? '' },
      expires_at: String(Math.floor(i.cert.notAfterMs / 1_000)),
      hint: '',
    },
    x509_svid_key: i.keyDer,
  };
}

/**
 * The identities whose entries match `requested`. Positions are cached per stream until the
 * agent's set of workloads changes (order is stable within a membership version), so a poll
 * costs one lookup per matched identity, not a pass over the node.
 */
function matcher(view: FakeAgentView, requested: ReadonlySet<string>): () => readonly ServedIdentity[] {
  let version = -1;
  let positions: number[] = [];
  return () => {
    const all = view.allIdentities();
    if (version !== view.membershipVersion()) {
      version = view.membershipVersion();
      positions = [];
      all.forEach((i, k) => {
        if (entryMatches(i.selectorKeys, requested)) positions.push(k);
      });
    }
    // One SVID per registration entry: workloads of a service-account entry share one certificate.
    const out: ServedIdentity[] = [];
    const seen = new Set<MintedCert>();
    for (const k of positions) {
      const i = all[k];
      if (i === undefined || seen.has(i.cert)) continue;
      seen.add(i.cert);
      out.push(i);
    }
    return out;
  };
}

/** Handlers for the DelegatedIdentity service definition. */
export function delegatedIdentityHandlers(view: FakeAgentView): grpc.UntypedServiceImplementation {
  return {
    SubscribeToX509SVIDs: (call: grpc.ServerWritableStream<SubscribeRequest, object>) => {
      const req = call.request;
      const hasSelectors = req.selectors.length > 0;
      if (hasSelectors === (req.pid !== 0)) {
        call.emit('error', statusError(grpc.status.INVALID_ARGUMENT, 'must provide either selectors or non-zero PID, but not both'));
        return;
      }
      if (!hasSelectors) {
        call.emit('error', statusError(grpc.status.UNIMPLEMENTED, 'fake agent: PID attestation is not simulated; send selectors'));
        return;
      }
      const matching = matcher(view, selectorKeys(req.selectors));
      streamFullState(view, call, () => {
        const ids = matching();
        return { key: identitiesKey(ids), build: () => ({ x509_svids: ids.map(svidMessage), federates_with: [] }) };
      });
    },
    SubscribeToX509Bundles: (call: grpc.ServerWritableStream<object, object>) => {
      streamFullState(view, call, () => {
        const bundle = view.bundle();
        return { key: bundle.key, build: () => ({ ca_certificates: { [view.trustDomainId]: bundle.der } }) };
      });
    },
  };
}

/** Handlers for the agent Debug service definition. */
export function agentDebugHandlers(view: FakeAgentView): grpc.UntypedServiceImplementation {
  return {
    GetInfo: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      callback(null, view.debugInfo());
    },
  };
}
