/**
 * sync_bundle's Cloud Run destination against the simulated fleet: the server's bundle read
 * through the real SPIRE gRPC client, the CA-bundle secret written through the real
 * SecretManagerServiceClient adapter on the fake Secret Manager, the services that mount it rolled
 * through the real ServicesClient adapter on the fake Cloud Run Admin API, knowledge in a real
 * Redis. What a Cloud Run workload reads from its mount is the fake's state (mountedBundle).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { CloudRunAdminClient } from '../../src/adapters/cloudrun/cloudrun-admin.client.js';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { SecretManagerClient } from '../../src/adapters/secretmanager/secret-manager.client.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import type { ActionContext, ActionScope } from '../../src/execute/action.js';
import { pemPrints } from '../../src/execute/actions/bundle-pem.js';
import { BUNDLE_VERSION_ANNOTATION } from '../../src/execute/actions/sync-bundle-secret.js';
import { syncBundleAction } from '../../src/execute/actions/sync-bundle.action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type ActionParams, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId } from '../../src/knowledge/model/incident.js';
import type { SimCloudRunFleet } from '../../src/sim/fleet-cloudrun.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

const scenario = parseScenario(
  'inline',
  [
    'name: x',
    'fleet:',
    '  svidTtl: 10s',
    '  envoyRestart: 200ms',
    '  workloads:',
    '    - {location: shop, name: web, count: 1}',
    '    - {location: acme/europe-west1, name: pay, count: 2, platform: cloudrun}',
    '    - {location: beta/us-central1, name: api, count: 1, platform: cloudrun}',
    '',
  ].join('\n'),
);
const actions = new Map([[syncBundleAction.name, syncBundleAction]]);
const SECRET = 'projects/acme/secrets/spire-bundle';
const PAY0 = 'projects/acme/locations/europe-west1/services/pay-0';
const CLOUD_RUN_WORKLOADS = ['acme/europe-west1/pay-0', 'acme/europe-west1/pay-1', 'beta/us-central1/api-0'];
const SERVICES = [PAY0, 'projects/acme/locations/europe-west1/services/pay-1', 'projects/beta/locations/us-central1/services/api-0'];
const SIMULATION: ActionScope = { production: false, simulated: true, trustDomains: [], namespaces: [] };
const signal = (): AbortSignal => new AbortController().signal;
const waitFor = async (what: string, probe: () => boolean, timeoutMs = 5_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
const portOf = (endpoint: string | undefined): number => Number((endpoint ?? '').slice((endpoint ?? '').lastIndexOf(':') + 1));

describe('sync_bundle to the Cloud Run CA-bundle secret on the simulated fleet', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  let run: SimCloudRunFleet;
  let spireServer: GrpcSpireServer;
  let cloudrun: CloudRunAdminClient;
  let secrets: SecretManagerClient;
  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
    fleet = await startSimulatedFleet(scenario);
    assert.ok(fleet.cloudRun);
    run = fleet.cloudRun;
    const sources = fleet.sources();
    const cr = sources.cloudRun;
    assert.ok(cr);
    assert.equal(cr.bundleSecret, SECRET);
    spireServer = new GrpcSpireServer({ endpoint: sources.spire?.server ?? '' });
    cloudrun = new CloudRunAdminClient({
      apiEndpoint: '127.0.0.1',
      port: portOf(cr.endpoint),
      insecure: true,
      callTimeoutMs: 3_000,
      pollInitialDelayMs: 100,
    });
    secrets = new SecretManagerClient({
      apiEndpoint: '127.0.0.1',
      port: portOf(cr.secretManagerEndpoint),
      insecure: true,
      callTimeoutMs: 3_000,
    });
  });
  after(async () => {
    await secrets.close();
    await cloudrun.close();
    spireServer.close();
    await fleet.stop();
    await conn.quit();
    await redis.stop();
  });

  async function setup(
    target: string,
    opts: { params?: ActionParams; scope?: ActionScope; secret?: string | null; kube?: boolean } = {},
  ): Promise<{ ctx: ActionContext; job: RemediationRequest }> {
    const prefix = uniquePrefix();
    const store = new RedisKnowledgeStore(conn, prefix);
    const now = Date.now();
    const id = makeIncidentId('trust_bundle_drift', target, now);
    await store.openIncident({
      id,
      type: 'trust_bundle_drift',
      subject: target,
      status: 'open',
      openedAt: now,
      resolvedAt: null,
      explanation: 'test',
      evidence: [],
      history: [],
    });
    const ctx: ActionContext = {
      store,
      audit: new RedisAuditLog(conn, prefix),
      clock: systemClock,
      envoy: new EnvoyAdminHttp(),
      rotation: { rotateAtFraction: 0.5, graceMs: 500 },
      spireServer,
      cloudrun,
      secrets,
      cloudRunBundle: { secret: opts.secret === undefined ? SECRET : opts.secret, locations: run.locations },
      scope: opts.scope ?? SIMULATION,
      ...(opts.kube === true ? { kubernetes: new KubernetesInventory({ connection: { kind: 'server', server: fleet.kube.url } }) } : {}),
    };
    return {
      ctx,
      job: {
        id: makeActionRunId(id, 0, 1),
        incidentId: id,
        step: 0,
        attempt: 1,
        action: 'sync_bundle',
        target,
        decidedAt: now,
        shadow: false,
        params: opts.params ?? {},
      },
    };
  }

  const serverPrints = async (): Promise<string[]> =>
    (await spireServer.getBundle()).x509Authorities.map((a) => a.certificate.sha256).sort();
  const printsOf = (pem: string | null): string[] => {
    assert.notEqual(pem, null, 'the mount is readable');
    const p = pemPrints(pem ?? '');
    assert.deepEqual(p.problems, []);
    return p.prints;
  };
  const latestPrints = (): string[] => printsOf(run.secrets.read(SECRET, 'latest'));
  const versionCount = (): number => run.secrets.versions(SECRET).length;
  const revisionCounts = (): number[] => SERVICES.map((s) => run.state.revisions(s).length);

  it('skips a secret whose latest version already holds the server bundle: no version added, no revision', async () => {
    assert.deepEqual(latestPrints(), await serverPrints());
    const revisions = revisionCounts();
    const { ctx, job } = await setup(`secret:${SECRET}`);
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'skipped', out.detail);
    assert.match(
      out.detail,
      /^secret projects\/acme\/secrets\/spire-bundle version 1 already holds the server's 1 X\.509 authorities \([0-9a-f]{12}\): nothing to sync$/,
    );
    assert.equal(versionCount(), 1);
    assert.deepEqual(revisionCounts(), revisions);
  });

  it('after a CA rotation adds one version equal to the server bundle and rolls every service mounting it; a second run adds nothing', async () => {
    fleet.world.startCaRotation();
    const want = await serverPrints();
    assert.equal(want.length, 2);
    for (const w of CLOUD_RUN_WORKLOADS) assert.equal(printsOf(run.mountedBundle(w)).length, 1, `${w} reads the old bundle`);
    const revisions = revisionCounts();
    const { ctx, job } = await setup(`secret:${SECRET}`);
    const check = await syncBundleAction.precheck(job, ctx, signal());
    assert.equal(check.proceed, true, check.detail);
    assert.match(
      check.detail,
      /version 1 holds 1 certificate\(s\) .* but the server's bundle \(sequence 2\) has 2 .*; 3 Cloud Run service\(s\) mount it$/,
    );
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.match(
      out.detail,
      /^added version 2 to secret projects\/acme\/secrets\/spire-bundle with the server's 2 X\.509 authorities \([0-9a-f]{12}, [0-9a-f]{12}, sequence 2\); version 1 held 1 certificate\(s\) \([0-9a-f]{12}\);/,
    );
    assert.match(
      out.detail,
      /rolled a new revision of (?=.*pay-0 \(revision pay-0-\d+-\w+\))(?=.*pay-1)(?=.*api-0).* so their instances read version 2$/,
    );
    assert.equal(versionCount(), 2);
    assert.deepEqual(latestPrints(), want, 'the latest version equals the server bundle');
    for (const w of CLOUD_RUN_WORKLOADS) assert.deepEqual(printsOf(run.mountedBundle(w)), want, `${w} reads the new bundle`);
    assert.deepEqual(
      revisionCounts(),
      revisions.map((n) => n + 1),
      'one new revision per service',
    );
    for (const s of SERVICES) {
      assert.equal(run.state.revisions(s).at(-1)?.state, 'ready');
      assert.equal(run.state.getService(s).template?.annotations[BUNDLE_VERSION_ANNOTATION], `${SECRET}/versions/2`);
    }

    const again = await setup(`secret:${SECRET}`);
    const second = await processRemediationJob(again.job, actions, again.ctx, signal());
    assert.equal(second.result, 'skipped', second.detail);
    assert.match(second.detail, /version 2 already holds the server's 2 X\.509 authorities .*: nothing to sync$/);
    assert.equal(versionCount(), 2, 'no second version');
    assert.deepEqual(
      revisionCounts(),
      revisions.map((n) => n + 1),
      'no second revision',
    );
  });

  it('a trust-domain target syncs the ConfigMap and the configured secret on their own, and moves a pinned mount to the new version', async () => {
    // pay-1's owner pinned the mount to version 2.
    const svc = run.state.getService(SERVICES[1] ?? '');
    const template = svc.template;
    assert.ok(template);
    const volumes = structuredClone(template.volumes) as {
      name: string;
      secret: { secret: string; items: { path: string; version: string }[] };
    }[];
    const item = volumes[0]?.secret.items[0];
    assert.ok(item);
    item.version = '2';
    run.state.updateService({
      service: { ...svc, template: { ...template, volumes } },
      updateMask: null,
      validateOnly: false,
      allowMissing: false,
    });
    await fleet.world.prepareAuthority();
    const want = await serverPrints();
    assert.equal(want.length, 3);
    // The prepared CA reaches the ConfigMap by itself (on the fleet's next tick); the secret has no such notifier.
    await waitFor('the ConfigMap to follow the server', () => {
      const cm = fleet.kube.store.get('configmaps', 'spire', 'spire-bundle');
      const data = (cm?.data ?? {}) as Record<string, string | undefined>;
      return pemPrints(data['bundle.crt'] ?? '').prints.length === 3;
    });
    const { ctx, job } = await setup('trust-domain:example.org', { kube: true });
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.match(
      out.detail,
      /^ConfigMap spire\/spire-bundle key bundle\.crt already holds the server's 3 X\.509 authorities .*: nothing to sync; added version 3 to secret/,
    );
    assert.match(out.detail, /pay-1 \(revision pay-1-\d+-\w+, pinned 2 → 3\)/);
    assert.deepEqual(latestPrints(), want);
    for (const w of CLOUD_RUN_WORKLOADS) assert.deepEqual(printsOf(run.mountedBundle(w)), want, `${w} reads the new bundle`);
    const pinned = run.state.getService(SERVICES[1] ?? '').template?.volumes as { secret: { items: { version: string }[] } }[] | undefined;
    assert.equal(pinned?.[0]?.secret.items[0]?.version, '3');
  });

  it('resumes an interrupted sync: a version newer than a service revision (added, not yet rolled) still rolls it', async () => {
    await fleet.world.prepareAuthority();
    run.secrets.addVersion(
      SECRET,
      Buffer.from(
        (await spireServer.getBundle()).x509Authorities
          .map((a) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(a.certificate.der).toString('base64')}\n-----END CERTIFICATE-----\n`)
          .join(''),
      ),
    );
    const revisions = revisionCounts();
    const { ctx, job } = await setup(`secret:${SECRET}`, { params: { revisions: 'all' } });
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.match(
      out.detail,
      /^secret projects\/acme\/secrets\/spire-bundle version 4 already holds the server's 4 X\.509 authorities; no version added; rolled a new revision of /,
    );
    assert.equal(versionCount(), 4);
    assert.deepEqual(
      revisionCounts(),
      revisions.map((n) => n + 1),
    );
  });

  it('a permanent Secret Manager error (PermissionDenied) fails at once and is not retried; an Unavailable one is retried', async () => {
    await fleet.world.prepareAuthority();
    const versions = versionCount();
    run.secrets.failCalls({
      code: status.PERMISSION_DENIED,
      count: 1,
      method: 'AddSecretVersion',
      message: "Permission 'secretmanager.versions.add' denied for resource 'projects/acme/secrets/spire-bundle'",
    });
    const denied = await setup(`secret:${SECRET}`, { params: { revisions: 'none' } });
    const out = await processRemediationJob(denied.job, actions, denied.ctx, signal(), { attempt: 1, maxAttempts: 3 });
    assert.equal(out.result, 'failed');
    assert.equal(out.transient, undefined, 'not retryable');
    assert.equal(out.retry, undefined, 'not delivered again');
    assert.match(
      out.detail,
      /permanent, not retried.*adding a version to secret projects\/acme\/secrets\/spire-bundle: Secret Manager AddSecretVersion .* failed: permission_denied \(gRPC PERMISSION_DENIED\)/,
    );
    assert.equal(versionCount(), versions, 'nothing added');

    run.secrets.failCalls({ code: status.UNAVAILABLE, count: 1, method: 'AddSecretVersion' });
    const flaky = await setup(`secret:${SECRET}`, { params: { revisions: 'none' } });
    const first = await processRemediationJob(flaky.job, actions, flaky.ctx, signal(), { attempt: 1, maxAttempts: 3 });
    assert.equal(first.retry, true, first.detail);
    const second = await processRemediationJob(flaky.job, actions, flaky.ctx, signal(), { attempt: 2, maxAttempts: 3 });
    assert.equal(second.result, 'succeeded', second.detail);
    assert.match(second.detail, /no revision rolled \(revisions: none\)$/);
    assert.equal(versionCount(), versions + 1);
    assert.deepEqual(latestPrints(), await serverPrints());
  });

  it('refuses the simulated secret in production, a real one in a simulation, and a secret outside the configured projects', async () => {
    await fleet.world.prepareAuthority();
    const versions = versionCount();
    const prod = await setup(`secret:${SECRET}`, { scope: { production: true, simulated: false, trustDomains: [], namespaces: [] } });
    const refused = await processRemediationJob(prod.job, actions, prod.ctx, signal());
    assert.equal(refused.result, 'skipped');
    assert.equal(
      refused.detail,
      'refused: secret projects/acme/secrets/spire-bundle belongs to the simulated fleet (it carries spire-healer.io/simulated) and the config says production: true',
    );
    run.secrets.createSecret('projects/acme/secrets/real-bundle');
    const real = await setup('secret:projects/acme/secrets/real-bundle');
    assert.match(
      (await processRemediationJob(real.job, actions, real.ctx, signal())).detail,
      /^refused: secret projects\/acme\/secrets\/real-bundle does not carry the simulated fleet's marker/,
    );
    const other = await setup('secret:projects/gamma/secrets/spire-bundle');
    assert.equal(
      (await processRemediationJob(other.job, actions, other.ctx, signal())).detail,
      'refused: secret projects/gamma/secrets/spire-bundle is in project gamma, outside the configured Cloud Run projects acme, beta',
    );
    const missing = await setup('secret:projects/acme/secrets/nope');
    const gone = await processRemediationJob(missing.job, actions, missing.ctx, signal(), { attempt: 1, maxAttempts: 3 });
    assert.equal(gone.result, 'failed');
    assert.equal(gone.retry, undefined);
    assert.match(gone.detail, /reading secret projects\/acme\/secrets\/nope: .*not_found \(gRPC NOT_FOUND\)/);
    assert.equal(versionCount(), versions, 'nothing written');
  });
});
