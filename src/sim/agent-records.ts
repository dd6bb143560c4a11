import type { SimAgentAttestation } from './world-model.js';

type AttestationEntry = { -readonly [K in keyof SimAgentAttestation]: SimAgentAttestation[K] };

/**
 * The SPIRE server's agent records, one per node, created on first use as attested by k8s_psat
 * (which can re-attest). DeleteAgent removes a record (lifting a ban); BanAgent keeps it, banned;
 * AttestAgent brings it back with the next generation. The world checks that the node exists.
 */
export class AgentRecords {
  private readonly byNode = new Map<string, AttestationEntry>();

  /** A copy of the node's record. */
  get(node: string): SimAgentAttestation {
    return { ...this.entry(node) };
  }

  /** Whether the server holds an unbanned record (a node never touched counts as attested). */
  attested(node: string): boolean {
    return this.byNode.get(node)?.attested ?? true;
  }

  /** Whether there is a record to delete or ban (attested or banned). */
  hasRecord(node: string): boolean {
    const a = this.entry(node);
    return a.attested || a.banned;
  }

  setAttestor(node: string, attestationType: string, canReattest: boolean): void {
    Object.assign(this.entry(node), { attestationType, canReattest });
  }

  /** DeleteAgent: false without a record. */
  evict(node: string, now: number): boolean {
    if (!this.hasRecord(node)) return false;
    Object.assign(this.entry(node), { attested: false, banned: false, evictedAt: now });
    return true;
  }

  /** BanAgent: false without a record. */
  ban(node: string, now: number): boolean {
    const a = this.entry(node);
    if (!a.attested && !a.banned) return false;
    Object.assign(a, { attested: false, banned: true, evictedAt: a.evictedAt ?? now });
    return true;
  }

  /** Whether AttestAgent would succeed as far as the server's records go: no record, no ban, an attestor that can re-attest. */
  mayReattest(node: string): boolean {
    const a = this.entry(node);
    return !a.attested && !a.banned && a.canReattest;
  }

  /** The record is back, one generation on. */
  reattested(node: string): void {
    const a = this.entry(node);
    Object.assign(a, { attested: true, generation: a.generation + 1, evictedAt: null });
  }

  private entry(node: string): AttestationEntry {
    let a = this.byNode.get(node);
    if (a === undefined) {
      a = { attested: true, banned: false, canReattest: true, attestationType: 'k8s_psat', generation: 1, evictedAt: null };
      this.byNode.set(node, a);
    }
    return a;
  }
}
