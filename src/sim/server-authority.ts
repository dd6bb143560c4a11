import type { MintedCert, SimCa } from './certs.js';
import type { SimAuthorityState } from './world-model.js';

/**
 * The SPIRE server's X.509 authorities as SimWorld keeps them: LocalAuthority slots (active,
 * prepared, old), the trust bundle with its sequence number, the copy in the spire-bundle
 * ConfigMap, and the tainted CAs. `configMapFrozen` says a fault keeps the ConfigMap stale. The
 * world decides when (ticks, faults, remediation); this class keeps the slot rules in one place.
 */
export class ServerAuthority {
  private slots: SimAuthorityState;
  private spare: SimCa | null;
  private activateAt: number | null = null;
  private certs: readonly MintedCert[];
  private seq = 1;
  private configMapCerts: readonly MintedCert[];
  /** Serials of bundle CA certificates marked tainted (TaintX509Authority). */
  private readonly tainted = new Set<string>();

  /** `spare` is the CA the world's one fault-driven rotation (startRotation) prepares. */
  constructor(ca: SimCa, spare: SimCa) {
    this.slots = { active: ca, prepared: null, old: null };
    this.spare = spare;
    this.certs = [ca.cert];
    this.configMapCerts = [ca.cert];
  }

  get active(): SimCa {
    return this.slots.active;
  }

  get state(): SimAuthorityState {
    return this.slots;
  }

  get bundle(): readonly MintedCert[] {
    return this.certs;
  }

  get sequenceNumber(): number {
    return this.seq;
  }

  get configMap(): readonly MintedCert[] {
    return this.configMapCerts;
  }

  /** A new server bundle (sequence + 1), copied to the ConfigMap unless frozen. */
  publish(certs: readonly MintedCert[], configMapFrozen: boolean): void {
    this.certs = certs;
    this.seq += 1;
    if (!configMapFrozen) this.configMapCerts = certs;
  }

  /**
   * The fault-driven rotation: the spare CA is prepared (bundle + ConfigMap unless frozen) and
   * becomes active at `activateAt`. Idempotent while one is prepared; throws once the spare is used.
   */
  startRotation(activateAt: number, configMapFrozen: boolean): void {
    if (this.slots.prepared !== null) return;
    const spare = this.spare;
    if (spare === null) throw new Error('this simulated world supports one CA rotation, and it already happened');
    this.spare = null;
    this.slots = { ...this.slots, prepared: spare };
    this.publish([...this.certs, spare.cert], configMapFrozen);
    this.activateAt = activateAt;
  }

  /** Activates the prepared CA when startRotation's time has come. */
  activateIfDue(now: number): void {
    if (this.slots.prepared === null || this.activateAt === null || now < this.activateAt) return;
    this.activate();
  }

  /** Copies the bundle into the ConfigMap; returns whether it was already equal. */
  syncConfigMap(): boolean {
    const same =
      this.configMapCerts.length === this.certs.length && this.configMapCerts.every((c, i) => c.serialHex === this.certs[i]?.serialHex);
    this.configMapCerts = this.certs;
    return same;
  }

  /** PrepareX509Authority: `ca` takes the prepared slot (an old authority leaves the slots, not the bundle). */
  prepare(ca: SimCa, configMapFrozen: boolean): void {
    this.slots = { active: this.slots.active, prepared: ca, old: null };
    this.activateAt = null;
    this.publish([...this.certs, ca.cert], configMapFrozen);
  }

  /** ActivateX509Authority: the prepared CA signs from now on, the active one becomes old. Throws when none is prepared. */
  activate(): SimCa {
    const prepared = this.slots.prepared;
    if (prepared === null) throw new Error('no prepared X.509 authority');
    this.slots = { active: prepared, prepared: null, old: this.slots.active };
    this.activateAt = null;
    return prepared;
  }

  /** TaintX509Authority on the old CA (sequence + 1); returns it. Throws without an old CA. */
  taintOld(): SimCa {
    const old = this.slots.old;
    if (old === null) throw new Error('no old X.509 authority');
    this.tainted.add(old.cert.serialHex);
    this.seq += 1;
    return old;
  }

  /** RevokeX509Authority on the old, tainted CA: out of the bundle and the ConfigMap (unless frozen). Throws otherwise. */
  revokeOld(configMapFrozen: boolean): SimCa {
    const old = this.slots.old;
    if (old === null || !this.tainted.has(old.cert.serialHex)) throw new Error('only an old, tainted X.509 authority can be revoked');
    this.publish(
      this.certs.filter((c) => c.serialHex !== old.cert.serialHex),
      configMapFrozen,
    );
    return old;
  }

  isTainted(cert: MintedCert): boolean {
    return this.tainted.has(cert.serialHex);
  }
}
