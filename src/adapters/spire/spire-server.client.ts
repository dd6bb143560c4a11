/**
 * The SPIRE server's APIs over grpc-js: Agent (ListAgents, GetAgent, DeleteAgent), Bundle
 * (GetBundle) and LocalAuthority (X.509 state, prepare, activate, taint, revoke). Never BanAgent.
 */
import type * as grpc from '@grpc/grpc-js';
import type {
  AuthoritySlot,
  DeleteAgentResult,
  ListAgentsFilter,
  SpireAgentRecord,
  SpireBundle,
  SpireServerPort,
  X509AuthorityState,
} from '../../ports/spire.port.js';
import { openClient, rpcName, unaryCall } from './grpc-call.js';
import { SpireApiError } from './spire-error.js';
import type { SpireServiceKey } from './spire-protos.js';
import {
  normaliseAgent,
  normaliseAuthoritySlot,
  normaliseAuthorityState,
  normaliseBundle,
  toWireSpiffeId,
  type WireAgent,
  type WireAuthorityState,
  type WireListAgentsResponse,
  type WireSpiffeId,
} from './spire-wire.js';
import { asError, errorMessage } from '../../knowledge/error-text.js';

/** Options of the server client. */
export interface GrpcSpireServerOptions {
  /** Server API endpoint, e.g. unix:///tmp/spire-server/private/api.sock. */
  readonly endpoint: string;
  /** Deadline per call (default 5000 ms). */
  readonly timeoutMs?: number;
  /** page_size sent to ListAgents (default 0: the server's choice; the token is followed either way). */
  readonly pageSize?: number;
  /** Safety stop for a server that never ends paging (default 10,000 pages). */
  readonly maxPages?: number;
}

/** SpireServerPort over @grpc/grpc-js; keeps one channel per service until close(). */
export class GrpcSpireServer implements SpireServerPort {
  private readonly clients = new Map<SpireServiceKey, grpc.Client>();

  /** See GrpcSpireServerOptions. */
  constructor(private readonly options: GrpcSpireServerOptions) {}

  /** ListAgents, following next_page_token until it is empty. */
  async listAgents(filter: ListAgentsFilter = {}, signal?: AbortSignal): Promise<SpireAgentRecord[]> {
    const out: SpireAgentRecord[] = [];
    const wireFilter = {
      by_attestation_type: filter.attestationType ?? '',
      by_banned: filter.banned === undefined ? null : { value: filter.banned },
      by_can_reattest: filter.canReattest === undefined ? null : { value: filter.canReattest },
    };
    let token = '';
    const seen = new Set<string>();
    for (let page = 0; page < (this.options.maxPages ?? 10_000); page += 1) {
      const res = await this.call(
        'serverAgent',
        'ListAgents',
        { filter: wireFilter, page_size: this.options.pageSize ?? 0, page_token: token },
        (r: WireListAgentsResponse) => r,
        signal,
      );
      res.agents.forEach((a, i) => out.push(this.normalised(() => normaliseAgent(a, `agents[${i}]`), 'serverAgent', 'ListAgents')));
      if (res.next_page_token === '') return out;
      if (seen.has(res.next_page_token)) {
        throw new SpireApiError(
          this.options.endpoint,
          rpcName('serverAgent', 'ListAgents'),
          'MALFORMED',
          `malformed response: next_page_token "${res.next_page_token}" repeats`,
        );
      }
      seen.add(res.next_page_token);
      token = res.next_page_token;
    }
    throw new SpireApiError(
      this.options.endpoint,
      rpcName('serverAgent', 'ListAgents'),
      'MALFORMED',
      `malformed response: paging did not end after ${this.options.maxPages ?? 10_000} pages`,
    );
  }

  /** GetAgent by SPIFFE ID. */
  async getAgent(spiffeId: string, signal?: AbortSignal): Promise<SpireAgentRecord> {
    const id = this.wireId(spiffeId, 'GetAgent');
    return this.call('serverAgent', 'GetAgent', { id }, (a: WireAgent) => normaliseAgent(a, 'agent'), signal);
  }

  /** DeleteAgent by SPIFFE ID; NotFound resolves 'not_found' (already evicted). */
  async deleteAgent(spiffeId: string, signal?: AbortSignal): Promise<DeleteAgentResult> {
    const id = this.wireId(spiffeId, 'DeleteAgent');
    try {
      await this.call('serverAgent', 'DeleteAgent', { id }, () => undefined, signal);
      return 'deleted';
    } catch (e) {
      if (e instanceof SpireApiError && e.code === 'NOT_FOUND') return 'not_found';
      throw e;
    }
  }

  /** PrepareX509Authority. */
  prepareX509Authority(signal?: AbortSignal): Promise<AuthoritySlot> {
    return this.call(
      'localAuthority',
      'PrepareX509Authority',
      {},
      (r: { prepared_authority: WireAuthorityState | null }) => normaliseAuthoritySlot(r.prepared_authority, 'prepared_authority'),
      signal,
    );
  }

  /** ActivateX509Authority of the prepared authority `authorityId`. */
  activateX509Authority(authorityId: string, signal?: AbortSignal): Promise<AuthoritySlot> {
    return this.call(
      'localAuthority',
      'ActivateX509Authority',
      { authority_id: authorityId },
      (r: { activated_authority: WireAuthorityState | null }) => normaliseAuthoritySlot(r.activated_authority, 'activated_authority'),
      signal,
    );
  }

  /** TaintX509Authority of the old authority `authorityId`. */
  taintX509Authority(authorityId: string, signal?: AbortSignal): Promise<AuthoritySlot> {
    return this.call(
      'localAuthority',
      'TaintX509Authority',
      { authority_id: authorityId },
      (r: { tainted_authority: WireAuthorityState | null }) => normaliseAuthoritySlot(r.tainted_authority, 'tainted_authority'),
      signal,
    );
  }

  /** RevokeX509Authority of the old, tainted authority `authorityId`. */
  revokeX509Authority(authorityId: string, signal?: AbortSignal): Promise<AuthoritySlot> {
    return this.call(
      'localAuthority',
      'RevokeX509Authority',
      { authority_id: authorityId },
      (r: { revoked_authority: WireAuthorityState | null }) => normaliseAuthoritySlot(r.revoked_authority, 'revoked_authority'),
      signal,
    );
  }

  /** GetBundle (the server's own trust domain). */
  getBundle(signal?: AbortSignal): Promise<SpireBundle> {
    return this.call('serverBundle', 'GetBundle', {}, normaliseBundle, signal);
  }

  /** GetX509AuthorityState. */
  getX509AuthorityState(signal?: AbortSignal): Promise<X509AuthorityState> {
    return this.call('localAuthority', 'GetX509AuthorityState', {}, normaliseAuthorityState, signal);
  }

  /** Closes the channels. */
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** The SPIFFEID message of `spiffeId`, or INVALID_ARGUMENT naming the RPC. */
  private wireId(spiffeId: string, method: string): WireSpiffeId {
    try {
      return toWireSpiffeId(spiffeId);
    } catch (e) {
      throw new SpireApiError(this.options.endpoint, rpcName('serverAgent', method), 'INVALID_ARGUMENT', errorMessage(e));
    }
  }

  private normalised<T>(fn: () => T, service: SpireServiceKey, method: string): T {
    try {
      return fn();
    } catch (e) {
      throw new SpireApiError(this.options.endpoint, rpcName(service, method), 'MALFORMED', `malformed response: ${errorMessage(e)}`, {
        cause: e,
      });
    }
  }

  /** One unary call on the cached channel. `normalise` takes the decoded wire shape (asserted, hence `never`). */
  private call<T>(service: SpireServiceKey, method: string, request: object, normalise: (r: never) => T, signal?: AbortSignal): Promise<T> {
    let client = this.clients.get(service);
    if (client === undefined) {
      try {
        client = openClient(service, this.options.endpoint, rpcName(service, method));
      } catch (e) {
        return Promise.reject(asError(e));
      }
      this.clients.set(service, client);
    }
    return unaryCall<never, T>({
      service,
      method,
      endpoint: this.options.endpoint,
      request,
      timeoutMs: this.options.timeoutMs ?? 5_000,
      signal,
      normalise,
      client,
    });
  }
}
