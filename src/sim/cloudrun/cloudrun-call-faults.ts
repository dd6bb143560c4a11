/** The RPCs of the fake Cloud Run API that transport faults can target. */
export type SimCloudRunMethod = 'GetService' | 'ListServices' | 'UpdateService' | 'GetOperation' | 'WaitOperation';

/**
 * What a faulted call answers instead of its real response:
 * - `unavailable`: status UNAVAILABLE (the API front end shedding load);
 * - `garbage`: bytes that are not a protobuf message of the response type (the client fails to decode);
 * - `empty`: the response message with every field at its default (a Service without a name,
 *   an Operation without a name), which decodes fine but is not a valid resource.
 */
export type SimCallFaultKind = 'unavailable' | 'garbage' | 'empty';

/** A transport fault: the next `count` calls (of `method`, or of any method when omitted) fail as `kind`. */
export interface SimCallFault {
  readonly kind: SimCallFaultKind;
  readonly count: number;
  readonly method?: SimCloudRunMethod;
  /** Status details for `unavailable` (default "The service is currently unavailable."). */
  readonly message?: string;
}

interface Pending {
  readonly fault: SimCallFault;
  remaining: number;
}

/**
 * A FIFO of transport faults, consumed one call at a time by the admin server. A fault applies
 * to the first matching call; several queued faults are used up in the order they were added.
 */
export class SimCallFaults {
  private readonly pending: Pending[] = [];

  /** Queues `fault`. Throws for a count below 1. */
  add(fault: SimCallFault): void {
    if (!Number.isInteger(fault.count) || fault.count < 1) throw new Error(`call fault count must be an integer >= 1, got ${fault.count}`);
    this.pending.push({ fault, remaining: fault.count });
  }

  /** The fault the next `method` call suffers (consuming one use), or undefined for a normal call. */
  take(method: SimCloudRunMethod): SimCallFault | undefined {
    const i = this.pending.findIndex((p) => p.fault.method === undefined || p.fault.method === method);
    const p = this.pending[i];
    if (p === undefined) return undefined;
    p.remaining -= 1;
    if (p.remaining <= 0) this.pending.splice(i, 1);
    return p.fault;
  }

  /** How many faulted calls are still queued. */
  remaining(): number {
    return this.pending.reduce((n, p) => n + p.remaining, 0);
  }

  /** Drops every queued fault. */
  clear(): void {
    this.pending.length = 0;
  }
}
