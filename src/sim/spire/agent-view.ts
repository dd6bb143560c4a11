/** What the fake agent's gRPC services read: the identities it serves, its bundle and change notifications. */
import type { MintedCert } from '../certs.js';

/** One identity the fake agent holds for a workload. Replaced (new object) when its SVID rotates. */
export interface ServedIdentity {
  readonly workloadId: string;
  readonly spiffeId: string;
  readonly cert: MintedCert;
  /** PKCS#8 DER of the SVID key (see FakeSpireAgent for the caveat). */
  readonly keyDer: Buffer;
  /** "type:value" keys of the workload's registration-entry selectors. */
  readonly selectorKeys: ReadonlySet<string>;
}

/** The trust bundle the agent distributes. */
export interface ServedBundle {
  /** Changes exactly when the bundle changes (sequence number and CA serials). */
  readonly key: string;
  /** Concatenated DER of the CA certificates. */
  readonly der: Buffer;
}

/** The fake agent's state, as its services need it. Reads are cheap: no re-encoding. */
export interface FakeAgentView {
  /** Trust-domain ID, e.g. spiffe://example.org. */
  readonly trustDomainId: string;
  /** Identities issued to a Workload API caller (the fake attests every caller the same way). */
  callerIdentities(): readonly ServedIdentity[];
  /** Every identity the agent holds (Delegated Identity matches selectors against these). */
  allIdentities(): readonly ServedIdentity[];
  /** Bumped when the set of served workloads changes (cached selector matches are then stale). */
  membershipVersion(): number;
  bundle(): ServedBundle;
  /** Registers a listener called after every state change; returns the unsubscribe. */
  subscribe(onChange: () => void): () => void;
  /** Counts one full-state message written to a stream (observability of pushes). */
  recordSent(): void;
  /** Debug.GetInfo in wire shape. */
  debugInfo(): object;
}
