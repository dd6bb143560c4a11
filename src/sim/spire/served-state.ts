/**
 * The fake agent's cached view of a node's part of the world: one ServedIdentity per workload on
 * the node and the encoded bundle. `refresh()` compares serials (and the bundle's sequence
 * number) before building anything, so a poll over an unchanged world costs a few map lookups
 * per workload and encodes nothing.
 */
import { generateKeyPairSync } from 'node:crypto';
import { concatDer } from '../../adapters/spire/der.js';
import type { MintedCert } from '../certs.js';
import type { SimWorld } from '../world.js';
import type { ServedBundle, ServedIdentity } from './agent-view.js';
import { accountSelectors, selectorKeys, workloadSelectors } from './selectors.js';

/** Identities and bundle of one node, as of the last refresh(). */
export class ServedState {
  private identities: ServedIdentity[] = [];
  private readonly byId = new Map<string, ServedIdentity>();
  private readonly keys = new Map<string, Buffer>();
  private bundleCerts: readonly MintedCert[] = [];
  private bundleSeq = -1;
  private served: ServedBundle = { key: '', der: Buffer.alloc(0) };
  private version = 0;

  constructor(
    private readonly world: SimWorld,
    private readonly node: string,
  ) {}

  /** Re-reads the world; true when anything a stream could send changed. */
  refresh(): boolean {
    const workloads = this.world.workloadsOn(this.node);
    const membershipChanged =
      workloads.length !== this.identities.length || workloads.some((w, i) => this.identities[i]?.workloadId !== w.id);
    let changed = membershipChanged;
    if (membershipChanged) this.version += 1;
    const next: ServedIdentity[] = [];
    for (const w of workloads) {
      const cert = this.world.agentSvid(w.id);
      const prev = this.byId.get(w.id);
      if (prev !== undefined && prev.cert.serialHex === cert.serialHex) {
        next.push(prev);
        continue;
      }
      const identity: ServedIdentity = {
        workloadId: w.id,
        spiffeId: w.spiffeId,
        cert,
        keyDer: this.keyOf(w.id),
        selectorKeys:
          prev?.selectorKeys ?? selectorKeys(this.world.registrations === 'serviceAccount' ? accountSelectors(w) : workloadSelectors(w)),
      };
      this.byId.set(w.id, identity);
      next.push(identity);
      changed = true;
    }
    if (membershipChanged) {
      const ids = new Set(workloads.map((w) => w.id));
      for (const id of this.byId.keys()) if (!ids.has(id)) this.byId.delete(id);
    }
    if (changed) this.identities = next;
    return this.refreshBundle() || changed;
  }

  /** Every identity, in world order. */
  all(): readonly ServedIdentity[] {
    return this.identities;
  }

  /** Bumped when the set of workloads changes. */
  membershipVersion(): number {
    return this.version;
  }

  /** The encoded bundle. */
  bundle(): ServedBundle {
    return this.served;
  }

  private refreshBundle(): boolean {
    const tb = this.world.trustBundle();
    if (tb.sequenceNumber === this.bundleSeq && tb.certs === this.bundleCerts) return false;
    const key = `${tb.sequenceNumber}:${tb.certs.map((c) => c.serialHex).join(',')}`;
    this.bundleSeq = tb.sequenceNumber;
    this.bundleCerts = tb.certs;
    if (key === this.served.key) return false;
    this.served = { key, der: concatDer(tb.certs.map((c) => c.der)) };
    return true;
  }

  private keyOf(workloadId: string): Buffer {
    let key = this.keys.get(workloadId);
    if (key === undefined) {
      key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'der' });
      this.keys.set(workloadId, key);
    }
    return key;
  }
}
