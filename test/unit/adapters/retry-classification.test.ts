/**
 * The one retry rule, as a table: every error code of every adapter and the retry class execute
 * reads from it. Each row builds the adapter's own error the way the adapter does (from a gRPC
 * status, an HTTP answer, a socket error) and asks `retryClassOf`, the only thing execute reads.
 * PermissionDenied, NotFound and InvalidArgument (and 403/404/422) are permanent everywhere.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { ApiException } from '@kubernetes/client-node';
import { CLOUDRUN_RETRY_CLASS, CloudRunError, toCloudRunError } from '../../../src/adapters/cloudrun/cloudrun-error.js';
import { ENVOY_ADMIN_RETRY_CLASS, EnvoyAdminError } from '../../../src/adapters/envoy/admin-http.js';
import { KUBE_RETRY_CLASS, KubernetesError, toKubeFailure } from '../../../src/adapters/kubernetes/kube-failure.js';
import {
  SECRET_MANAGER_RETRY_CLASS,
  SecretManagerError,
  toSecretManagerError,
} from '../../../src/adapters/secretmanager/secret-manager-error.js';
import { SPIRE_RETRY_CLASS, SpireApiError, toSpireError } from '../../../src/adapters/spire/spire-error.js';
import { SpireHealthError } from '../../../src/adapters/spire/spire-health.client.js';
import { NotifyError } from '../../../src/adapters/webhook/webhook-notifier.js';
import { PermanentActionError } from '../../../src/execute/action.js';
import { ClassifiedError, retryClassOf, rethrowWithContext, type RetryClass } from '../../../src/knowledge/errors/classified-error.js';
import { httpStatusRetryClass } from '../../../src/knowledge/errors/http-retry-class.js';
import { DEFAULT_DELIVERIES, deliveriesOf } from '../../../src/knowledge/errors/job-deliveries.js';
import type { RemediationRequest } from '../../../src/knowledge/model/action-run.js';

const P: RetryClass = 'permanent';
const R: RetryClass = 'retryable';

/** Asserts that `rows` lists exactly the codes of `table` (so a new code cannot go unlisted). */
function coversEvery(table: Readonly<Record<string, RetryClass>>, rows: readonly (readonly [string, RetryClass])[]): void {
  assert.deepEqual(rows.map(([code]) => code).sort(), Object.keys(table).sort(), 'the table test lists every code of the adapter');
}

describe('retry classification: every adapter error code and its class, for execute', () => {
  it('SPIRE (gRPC): PERMISSION_DENIED, NOT_FOUND, INVALID_ARGUMENT permanent; UNAVAILABLE, DEADLINE_EXCEEDED retryable', () => {
    const rows = [
      ['CANCELLED', R],
      ['UNKNOWN', R],
      ['INVALID_ARGUMENT', P],
      ['DEADLINE_EXCEEDED', R],
      ['NOT_FOUND', P],
      ['ALREADY_EXISTS', P],
      ['PERMISSION_DENIED', P],
      ['RESOURCE_EXHAUSTED', R],
      ['FAILED_PRECONDITION', P],
      ['ABORTED', R],
      ['OUT_OF_RANGE', P],
      ['UNIMPLEMENTED', P],
      ['INTERNAL', R],
      ['UNAVAILABLE', R],
      ['DATA_LOSS', R],
      ['UNAUTHENTICATED', P],
      ['MALFORMED', R],
      ['BAD_ENDPOINT', P],
      ['STREAM_ENDED', R],
    ] as const;
    coversEvery(SPIRE_RETRY_CLASS, rows);
    for (const [code, want] of rows) {
      const grpcCode = (status as unknown as Record<string, number | undefined>)[code];
      // Status codes go through the adapter's wrapping of a grpc-js error; the adapter's own codes are built directly.
      const err =
        grpcCode === undefined
          ? new SpireApiError('unix:///tmp/api.sock', 'Bundle/GetBundle', code, 'x')
          : toSpireError({ code: grpcCode, details: 'x', message: 'x' }, 'unix:///tmp/api.sock', 'Bundle/GetBundle');
      assert.equal(err.code, code);
      assert.equal(retryClassOf(err), want, `SPIRE ${code}`);
    }
  });

  it('Kubernetes: 401, 403, 404, 400/415/422 permanent; 409, 410, 429, 5xx, timeouts and network errors retryable', () => {
    const byStatus: readonly (readonly [number, string, RetryClass])[] = [
      [400, 'invalid', P],
      [401, 'unauthorized', P],
      [403, 'forbidden', P],
      [404, 'not_found', P],
      [405, 'invalid', P],
      [409, 'conflict', R],
      [410, 'expired', R],
      [415, 'invalid', P],
      [422, 'invalid', P],
      [429, 'too_many_requests', R],
      [500, 'server_error', R],
      [502, 'unavailable', R],
      [503, 'unavailable', R],
      [504, 'timeout', R],
      [507, 'server_error', R],
    ];
    for (const [code, name, want] of byStatus) {
      const failure = toKubeFailure(new ApiException(code, 'x', '{"kind":"Status","message":"x"}', {}), 'get', 'https://k8s', 'pods a/b');
      assert.equal(failure.code, name, `HTTP ${code}`);
      assert.equal(retryClassOf(new KubernetesError(failure)), want, `Kubernetes HTTP ${code}`);
    }
    const bySocket: readonly (readonly [unknown, string, RetryClass])[] = [
      [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'network', R],
      [Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'timeout', R],
      [new SyntaxError('Unexpected token < in JSON'), 'malformed', R],
      [new Error('something else'), 'unknown', R],
    ];
    for (const [err, name, want] of bySocket) {
      const failure = toKubeFailure(err, 'get', 'https://k8s', 'pods a/b');
      assert.equal(failure.code, name);
      assert.equal(retryClassOf(new KubernetesError(failure)), want, `Kubernetes ${name}`);
    }
    const rows = [...byStatus.map(([, name, want]) => [name, want] as const), ...bySocket.map(([, name, want]) => [name, want] as const)];
    coversEvery(KUBE_RETRY_CLASS, [...new Map(rows).entries()]);
  });

  const site = { endpoint: '127.0.0.1:1', method: 'GetService', resource: 'projects/p/locations/l/services/s' };

  it('Cloud Run: NOT_FOUND, INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED, FAILED_PRECONDITION permanent; a failed rollout too', () => {
    const byStatus: readonly (readonly [number, string, RetryClass])[] = [
      [status.NOT_FOUND, 'not_found', P],
      [status.INVALID_ARGUMENT, 'invalid_argument', P],
      [status.OUT_OF_RANGE, 'invalid_argument', P],
      [status.PERMISSION_DENIED, 'permission_denied', P],
      [status.UNAUTHENTICATED, 'unauthenticated', P],
      [status.FAILED_PRECONDITION, 'failed_precondition', P],
      [status.UNAVAILABLE, 'unavailable', R],
      [status.DEADLINE_EXCEEDED, 'timeout', R],
      [status.ABORTED, 'aborted', R],
      [status.RESOURCE_EXHAUSTED, 'resource_exhausted', R],
      [status.INTERNAL, 'rpc', R],
      [status.UNKNOWN, 'rpc', R],
    ];
    for (const [code, name, want] of byStatus) {
      const err = toCloudRunError({ code, details: 'x' }, site);
      assert.equal(err.failure, name, `gRPC ${code}`);
      assert.equal(retryClassOf(err), want, `Cloud Run ${name}`);
    }
    const parse = toCloudRunError({ code: status.INTERNAL, details: 'Response message parsing error: x' }, site);
    assert.equal(parse.failure, 'malformed');
    assert.equal(retryClassOf(parse), P);
    assert.equal(retryClassOf(new CloudRunError('rollout_failed', site, 'OK', 'revision failed')), P);
    coversEvery(CLOUDRUN_RETRY_CLASS, [
      ...new Map([...byStatus.map(([, n, w]) => [n, w] as const), ['malformed', P] as const, ['rollout_failed', P] as const]).entries(),
    ]);
  });

  it('Secret Manager: NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED, INVALID_ARGUMENT, FAILED_PRECONDITION permanent', () => {
    const byStatus: readonly (readonly [number, string, RetryClass])[] = [
      [status.NOT_FOUND, 'not_found', P],
      [status.PERMISSION_DENIED, 'permission_denied', P],
      [status.UNAUTHENTICATED, 'unauthenticated', P],
      [status.INVALID_ARGUMENT, 'invalid_argument', P],
      [status.OUT_OF_RANGE, 'invalid_argument', P],
      [status.FAILED_PRECONDITION, 'failed_precondition', P],
      [status.UNAVAILABLE, 'unavailable', R],
      [status.DEADLINE_EXCEEDED, 'timeout', R],
      [status.ABORTED, 'aborted', R],
      [status.INTERNAL, 'rpc', R],
    ];
    for (const [code, name, want] of byStatus) {
      const err = toSecretManagerError({ code, details: 'x' }, { ...site, method: 'AddSecretVersion' });
      assert.equal(err.failure, name, `gRPC ${code}`);
      assert.equal(retryClassOf(err), want, `Secret Manager ${name}`);
    }
    const parse = toSecretManagerError({ code: status.INTERNAL, details: 'Response message parsing error: x' }, site);
    assert.equal(retryClassOf(parse), P);
    assert.ok(parse instanceof SecretManagerError);
    coversEvery(SECRET_MANAGER_RETRY_CLASS, [
      ...new Map([...byStatus.map(([, n, w]) => [n, w] as const), ['malformed', P] as const]).entries(),
    ]);
  });

  it('HTTP answers (Envoy admin, webhook, SPIRE health): 403, 404, 422 and other 4xx permanent; 408, 409, 425, 429 and 5xx retryable', () => {
    const rows: readonly (readonly [number, RetryClass])[] = [
      [301, P],
      [307, P],
      [400, P],
      [401, P],
      [403, P],
      [404, P],
      [405, P],
      [408, R],
      [409, R],
      [410, P],
      [413, P],
      [422, P],
      [425, R],
      [429, R],
      [500, R],
      [502, R],
      [503, R],
      [504, R],
    ];
    for (const [code, want] of rows) {
      assert.equal(httpStatusRetryClass(code), want, `HTTP ${code}`);
      const envoy = new EnvoyAdminError('http://127.0.0.1:9901/quitquitquit', 'http_status', `HTTP ${code}`, code);
      assert.equal(retryClassOf(envoy), want, `Envoy admin HTTP ${code}`);
      assert.equal(retryClassOf(new NotifyError(`POST answered ${code}`, httpStatusRetryClass(code), code)), want);
      assert.equal(retryClassOf(new SpireHealthError(`unexpected HTTP ${code}`, httpStatusRetryClass(code))), want);
    }
  });

  it('Envoy admin transport and payload: unreachable, timeout, aborted retryable; malformed permanent', () => {
    const rows = [
      ['unreachable', R],
      ['timeout', R],
      ['aborted', R],
      ['malformed', P],
    ] as const;
    coversEvery(ENVOY_ADMIN_RETRY_CLASS, rows);
    for (const [failure, want] of rows) assert.equal(retryClassOf(new EnvoyAdminError('http://x/certs', failure, 'x')), want, failure);
  });

  it("an action's own refusal is permanent; context keeps the class; anything unclassified is retryable", () => {
    assert.equal(retryClassOf(new PermanentActionError('parameter max must be a count')), P);
    const denied = new SpireApiError('unix:///s', 'Agent/DeleteAgent', 'PERMISSION_DENIED', 'denied');
    const wrapped = (() => {
      try {
        rethrowWithContext('DeleteAgent spiffe://td/agent')(denied);
      } catch (e: unknown) {
        return e;
      }
      return null;
    })();
    assert.ok(wrapped instanceof ClassifiedError);
    assert.equal(wrapped.retry, P);
    assert.equal(wrapped.cause, denied);
    assert.match(wrapped.message, /^DeleteAgent spiffe:\/\/td\/agent: unix:\/\/\/s Agent\/DeleteAgent: PERMISSION_DENIED: denied$/);
    assert.equal(retryClassOf(new Error('ECONNRESET')), R);
    assert.equal(retryClassOf(Object.assign(new Error('no guessing'), { code: status.PERMISSION_DENIED })), R);
  });

  it("deliveries: 3 per job; a notify step's params.attempts (1–10) is its deliveries", () => {
    const job = (action: RemediationRequest['action'], attempts?: number): RemediationRequest => ({
      id: 'j',
      incidentId: 'i',
      step: 0,
      attempt: 1,
      action,
      target: 't',
      decidedAt: 0,
      shadow: false,
      ...(attempts === undefined ? {} : { params: { attempts } }),
    });
    assert.equal(deliveriesOf(job('restart_envoy')), DEFAULT_DELIVERIES);
    assert.equal(deliveriesOf(job('restart_envoy', 7)), DEFAULT_DELIVERIES, 'only notify takes attempts');
    assert.equal(deliveriesOf(job('notify')), 3);
    assert.equal(deliveriesOf(job('notify', 1)), 1);
    assert.equal(deliveriesOf(job('notify', 5)), 5);
    assert.equal(deliveriesOf(job('notify', 50)), 10);
    assert.equal(deliveriesOf(job('notify', 0)), 3);
    assert.equal(deliveriesOf(job('notify', 2.5)), 3);
  });
});
