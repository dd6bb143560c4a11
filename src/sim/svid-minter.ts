import { mintSvid, type MintedCert, type SimCa } from './certs.js';
import type { Registrations, WorkloadEntry } from './world-model.js';

/** An SVID minted ahead of its rotation point, by the CA that was active when it was started. */
interface AheadSlot {
  readonly ca: SimCa;
  cert?: MintedCert;
}

/**
 * Mints the simulated workloads' SVIDs for the world: at rotation, on re-attestation and after a CA
 * change. With service-account registrations one SVID is minted per registration entry (node and
 * SPIFFE ID) and shared by the workloads that hold it. SVIDs about to rotate are minted ahead, in the
 * background (`mintAhead`), so a fleet whose SVIDs rotate together does not stall the event loop for
 * seconds at its rotation point: the simulator must not be what falls behind.
 */
export class SvidMinter {
  /** SVIDs minted ahead of their rotation point, by key(). */
  private readonly ahead = new Map<string, AheadSlot>();
  private mintQueue: Promise<void> = Promise.resolve();

  constructor(
    private readonly ttlMs: number,
    private readonly registrations: Registrations,
  ) {}

  /**
   * Mints a new SVID (same key) by `ca` for each entry, issued at `now`; one per registration entry
   * with service-account registrations. A `rotation` takes the SVID minted ahead when it is ready and
   * its CA is still `ca`, and mints at once otherwise. `live`: every entry of the world, to forget
   * SVIDs minted ahead for entries that are gone.
   */
  async reissue(
    entries: readonly WorkloadEntry[],
    at: { readonly ca: SimCa; readonly now: number; readonly rotation: boolean; readonly live: Iterable<WorkloadEntry> },
  ): Promise<void> {
    const { ca, now } = at;
    const groups = new Map<string, WorkloadEntry[]>();
    for (const e of entries) {
      const key = this.key(e);
      const g = groups.get(key);
      if (g === undefined) groups.set(key, [e]);
      else g.push(e);
    }
    const batches = [...groups].flatMap(([key, g]) => (g[0] === undefined ? [] : [{ key, first: g[0], all: g }]));
    const minted = await Promise.all(
      batches.map(async ({ key, first }) => {
        const ahead = at.rotation ? this.ahead.get(key) : undefined;
        this.ahead.delete(key);
        if (ahead?.cert !== undefined && ahead.ca === ca && ahead.cert.notBeforeMs <= now) return ahead.cert;
        return (await mintSvid({ ca, spiffeId: first.workload.spiffeId, issuedAtMs: now, ttlMs: this.ttlMs, keys: first.keys })).cert;
      }),
    );
    batches.forEach(({ all }, i) => {
      const m = minted[i];
      if (m !== undefined) for (const e of all) e.agentSvid = m;
    });
    const live = [...at.live];
    if (this.ahead.size > live.length) {
      const current = new Set(live.map((e) => this.key(e)));
      for (const k of this.ahead.keys()) if (!current.has(k)) this.ahead.delete(k);
    }
  }

  /**
   * Mints ahead, in the background, the SVIDs due within the next quarter of a lifetime (at most 10 s):
   * the same CA, key and issue time (the rotation point) as a mint at that point, one at a time with a
   * yield between. `rotates`: whether the entry's agent will rotate it at all.
   */
  mintAhead(
    entries: Iterable<WorkloadEntry>,
    at: { readonly ca: SimCa; readonly now: number; readonly rotates: (e: WorkloadEntry) => boolean },
  ): void {
    const { ca, now } = at;
    const lead = Math.min(this.ttlMs / 4, 10_000);
    for (const e of entries) {
      const dueAt = e.agentSvid.notBeforeMs + this.ttlMs / 2;
      if (now < dueAt - lead || now >= dueAt || !at.rotates(e)) continue;
      const key = this.key(e);
      if (this.ahead.has(key)) continue;
      const slot: AheadSlot = { ca };
      this.ahead.set(key, slot);
      const { spiffeId } = e.workload;
      const keys = e.keys;
      this.mintQueue = this.mintQueue
        .then(() => new Promise<void>((r) => setImmediate(r)))
        .then(async () => {
          if (this.ahead.get(key) !== slot) return;
          slot.cert = (await mintSvid({ ca, spiffeId, issuedAtMs: dueAt, ttlMs: this.ttlMs, keys })).cert;
        })
        .catch(() => undefined);
    }
  }

  /** The SVID an entry holds, as a key: shared by the workloads of a service-account entry on a node. */
  private key(e: WorkloadEntry): string {
    return this.registrations === 'serviceAccount'
      ? `${e.workload.node}|${e.workload.spiffeId}|${e.agentSvid.serialHex}`
      : `${e.workload.id}|${e.agentSvid.serialHex}`;
  }
}
