/**
 * grpc-js plumbing shared by the SPIRE clients: one channel per endpoint and service, a unary
 * call with deadline and abort, and a reconnecting server-stream watch.
 */
import * as grpc from '@grpc/grpc-js';
import { cappedBackoffMs } from '../../knowledge/backoff.js';
import type { Closable, WatchHandlers } from '../../ports/spire.port.js';
import { BadEndpointError, grpcTargetOf } from './endpoint.js';
import { SpireApiError, malformed, toSpireError } from './spire-error.js';
import { SPIRE_SERVICES, spireServices, type SpireServiceKey } from './spire-protos.js';

/** Reconnect backoff of watches: first retry delay, doubled per consecutive failure up to max. */
export interface BackoffOptions {
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/** Defaults: 500 ms doubling to 30 s. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialBackoffMs: 500, maxBackoffMs: 30_000 };

/** "SpiffeWorkloadAPI/FetchX509SVID": service short name plus method, as error messages show it. */
export function rpcName(service: SpireServiceKey, method: string): string {
  return `${SPIRE_SERVICES[service].split('.').pop() ?? service}/${method}`;
}

/** A fresh client for `service` on `endpoint`; throws SpireApiError BAD_ENDPOINT for a malformed URI. */
export function openClient(service: SpireServiceKey, endpoint: string, rpc: string): grpc.Client {
  let target: string;
  try {
    target = grpcTargetOf(endpoint);
  } catch (e) {
    if (e instanceof BadEndpointError) throw new SpireApiError(endpoint, rpc, 'BAD_ENDPOINT', e.message, { cause: e });
    throw e;
  }
  const { Client } = spireServices()[service];
  // A local subchannel pool: a reconnect gets a fresh connection instead of a shared one in backoff.
  return new Client(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
}

/** What a unary call needs. */
export interface UnaryRequest<Res, T> {
  readonly service: SpireServiceKey;
  readonly method: string;
  readonly endpoint: string;
  readonly request: object;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly metadata?: grpc.Metadata;
  /** Normalises the decoded response; a throw becomes MALFORMED. */
  readonly normalise: (res: Res) => T;
  /** Reuse this client instead of opening (and closing) one. */
  readonly client?: grpc.Client;
}

type UnaryFn = (
  req: object,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: unknown) => void,
) => grpc.ClientUnaryCall;
type StreamFn = (req: object, md: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;

/** One unary call; rejects with SpireApiError. */
export async function unaryCall<Res, T>(r: UnaryRequest<Res, T>): Promise<T> {
  const rpc = rpcName(r.service, r.method);
  const client = r.client ?? openClient(r.service, r.endpoint, rpc);
  try {
    const fn = (client as unknown as Record<string, UnaryFn>)[r.method];
    if (fn === undefined) throw new Error(`no method ${r.method}`);
    const res = await new Promise<unknown>((resolve, reject) => {
      if (r.signal?.aborted === true) {
        reject(new SpireApiError(r.endpoint, rpc, 'CANCELLED', 'aborted before the call'));
        return;
      }
      const call = fn.call(client, r.request, r.metadata ?? new grpc.Metadata(), { deadline: Date.now() + r.timeoutMs }, (err, out) => {
        r.signal?.removeEventListener('abort', onAbort);
        if (err !== null) reject(toSpireError(err, r.endpoint, rpc));
        else resolve(out);
      });
      const onAbort = (): void => {
        call.cancel();
      };
      r.signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return r.normalise(res as Res);
    } catch (e) {
      throw malformed(r.endpoint, rpc, e);
    }
  } finally {
    if (r.client === undefined) client.close();
  }
}

/** What a watch needs. */
export interface WatchRequest<Msg, T> {
  readonly service: SpireServiceKey;
  readonly method: string;
  /**
   * The endpoint, or how to find it on every (re)connect; a finder throws a SpireApiError
   * (BAD_ENDPOINT) when it finds none, which counts as a failure like any other.
   */
  readonly endpoint: string | (() => string);
  readonly request: object;
  readonly metadata?: () => grpc.Metadata;
  readonly normalise: (msg: Msg) => T;
  readonly handlers: WatchHandlers<T>;
  readonly backoff: BackoffOptions;
}

/**
 * A server-stream watch that treats every message as full state. It never gives up by itself: it
 * reconnects after a stream end (at once the first time, then with backoff) and after every failure
 * with backoff (doubling, capped at maxBackoffMs), whatever the failure's retry class. A
 * PermissionDenied or InvalidArgument is reported and retried like an Unavailable: the class is for
 * execute, a monitor keeps watching (a node agent's registration may still be propagating). A
 * message that fails to normalise cancels the call and counts as a failure (MALFORMED).
 */
export function watchStream<Msg, T>(w: WatchRequest<Msg, T>): Closable {
  const rpc = rpcName(w.service, w.method);
  let closed = false;
  let failures = 0;
  let client: grpc.Client | undefined;
  let call: grpc.ClientReadableStream<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let endpoint = typeof w.endpoint === 'string' ? w.endpoint : '';
  const isClosed = (): boolean => closed;

  const teardown = (): void => {
    call?.cancel();
    call = undefined;
    client?.close();
    client = undefined;
  };
  const fail = (err: SpireApiError): void => {
    teardown();
    if (closed) return;
    failures += 1;
    const delay =
      err.code === 'STREAM_ENDED' && failures === 1 ? 0 : cappedBackoffMs(w.backoff.initialBackoffMs, w.backoff.maxBackoffMs, failures - 1);
    w.handlers.onError(err, delay);
    if (isClosed()) return; // the handler may have closed the watch
    timer = setTimeout(connect, delay);
  };
  function connect(): void {
    timer = undefined;
    if (closed) return;
    try {
      endpoint = typeof w.endpoint === 'string' ? w.endpoint : w.endpoint();
      client = openClient(w.service, endpoint, rpc);
    } catch (e) {
      fail(toSpireError(e, endpoint, rpc));
      return;
    }
    const fn = (client as unknown as Record<string, StreamFn>)[w.method];
    if (fn === undefined) throw new Error(`${rpc}: no such method in the loaded protos`);
    const current = fn.call(client, w.request, w.metadata?.() ?? new grpc.Metadata());
    call = current;
    let done = false;
    const finish = (err: SpireApiError): void => {
      if (done || call !== current) return;
      done = true;
      fail(err);
    };
    current.on('data', (msg: unknown) => {
      if (done || closed) return;
      let update: T;
      try {
        update = w.normalise(msg as Msg);
      } catch (e) {
        finish(malformed(endpoint, rpc, e));
        return;
      }
      failures = 0;
      w.handlers.onUpdate(update);
    });
    current.on('error', (e: unknown) => {
      finish(toSpireError(e, endpoint, rpc));
    });
    current.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) finish(new SpireApiError(endpoint, rpc, 'STREAM_ENDED', 'server closed the stream'));
    });
  }
  // Deferred, so handlers never run before the caller holds the handle.
  timer = setTimeout(connect, 0);
  return {
    close(): void {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      teardown();
    },
  };
}
