import { createActor, fromPromise, type AnyActorRef, type AnyStateMachine } from 'xstate';
import { analyzeMachine } from '../analyze/analyze.machine.js';
import { runAnalysisPass, type AnalysisPassResult } from '../analyze/run-analysis.js';
import type { AuditLog } from '../knowledge/audit.js';
import type { Clock } from '../knowledge/clock.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import { monitorMachine } from '../monitor/monitor.machine.js';
import { sweepEnvoys, type SweepResult } from '../monitor/sweep-envoys.js';
import { planMachine, type PlanFocus } from '../plan/plan.machine.js';
import { reconcilePlans, type PlanPassResult } from '../plan/reconcile-plans.js';
import type { Playbook } from '../plan/playbooks/playbook.js';
import { processRemediationJob, type ActionRegistry } from '../execute/process-remediation-job.js';
import { restartEnvoyAction } from '../execute/actions/restart-envoy.action.js';
import { forceRotationAction } from '../execute/actions/force-rotation.action.js';
import { restartAgentAction } from '../execute/actions/restart-agent.action.js';
import { redeployAction } from '../execute/actions/redeploy.action.js';
import { syncBundleAction } from '../execute/actions/sync-bundle.action.js';
import { collectEvidenceAction } from '../execute/actions/collect-evidence.action.js';
import { createNotifyAction } from '../execute/actions/notify.action.js';
import type { ActionContext, RemediationAction } from '../execute/action.js';
import type { NotifierPort } from '../ports/notifier.port.js';
import type { SpireServerPort } from '../ports/spire.port.js';
import type { EnvoyAdminPort } from '../ports/envoy-admin.port.js';
import type { DaemonMetrics } from '../ports/metrics.port.js';
import type { RemediationQueuePort } from '../ports/remediation-queue.port.js';
import type { DaemonConfig } from './config.js';
import { DaemonHttpServer } from './http-server.js';
import { InFlight } from './in-flight.js';
import type { PlaybookReloader } from './playbook-reloader.js';
import { startMonitorSources, type MonitorSourcePorts, type MonitorSources } from './monitor-sources.js';
import type { Logger } from './logger.js';
import { defaultStallAfterMs, readinessOf, type LinkWatch, type Readiness } from './readiness.js';

/** Everything the daemon runs on; built by the composition root (main.ts) or a test. */
export interface DaemonParts {
  readonly config: DaemonConfig;
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  readonly queue: RemediationQueuePort;
  readonly envoy: EnvoyAdminPort;
  readonly metrics: DaemonMetrics;
  readonly clock: Clock;
  readonly log: Logger;
  /** The playbooks in force, read on every plan pass (hot reload swaps them). */
  readonly playbooks: () => readonly Playbook[];
  /** Watches the playbook files while the daemon runs, when set. */
  readonly playbookReloader?: PlaybookReloader;
  /** Serve /metrics and /healthz (off for embedded simulations unless asked). */
  readonly serveHttp: boolean;
  /** Ports for the SPIRE, Kubernetes and Cloud Run sources configured in config.sources. */
  readonly sourcePorts?: MonitorSourcePorts;
  /** Sends escalations and `notify` steps (a webhook adapter in main.ts). */
  readonly notifier: NotifierPort;
  /**
   * Reachability of the knowledge connection: /readyz, and one log line when Redis goes away and
   * one when it is back. Absent: assumed reachable.
   */
  readonly redisLink?: LinkWatch;
  /** A periodic stage with no completed pass for this long makes /readyz fail; default from the intervals (at least 30 s). */
  readonly stallAfterMs?: number;
}

/** How often the playbook files are checked for changes. */
const PLAYBOOK_POLL_MS = 2_000;

/** Every action a playbook can name (see ACTION_NAMES), keyed by name. */
export function actionRegistry(notifier: NotifierPort): ActionRegistry {
  const all: RemediationAction[] = [
    forceRotationAction,
    restartEnvoyAction,
    restartAgentAction,
    redeployAction,
    syncBundleAction,
    collectEvidenceAction,
    createNotifyAction(notifier),
  ];
  return new Map(all.map((a) => [a.name, a]));
}

/**
 * The daemon: four stage actors (monitor, analyze, plan, and the execute worker) that coordinate
 * only through knowledge. Runtime routes `knowledge.changed` nudges between them so reactions are
 * prompt, but every stage also runs on its own interval, so a lost nudge delays, never loses, work.
 */
export class Daemon {
  private readonly actors: { name: string; ref: AnyActorRef }[] = [];
  private http: DaemonHttpServer | null = null;
  private running = false;
  private sources: MonitorSources | null = null;
  private readonly inFlight = new InFlight();
  private readonly actions: ActionRegistry;
  private spireServer: SpireServerPort | null | undefined;
  /** When monitor, analyze and plan last completed a pass (their start time before the first). */
  private readonly lastPassAt = new Map<string, number>();
  /** Address of the HTTP server once started. */
  httpAddress: { host: string; port: number } | null = null;

  constructor(private readonly parts: DaemonParts) {
    this.actions = actionRegistry(parts.notifier);
  }

  async start(): Promise<void> {
    const { config, store, metrics, log } = this.parts;
    for (const w of config.targets) await store.putWorkload(w);
    const control = await store.getControl();
    metrics.setPaused(control.paused);
    const started = this.parts.clock.now();
    for (const stage of ['monitor', 'analyze', 'plan']) this.lastPassAt.set(stage, started);
    const passDone = <T>(stage: string, res: T): T => {
      this.lastPassAt.set(stage, this.parts.clock.now());
      return res;
    };

    const plan = this.spawn(
      'plan',
      planMachine.provide({
        actors: {
          reconcile: fromPromise<PlanPassResult, { focus: PlanFocus }>(({ input }) =>
            this.inFlight.track(this.planPass(input.focus)).then((r) => passDone('plan', r)),
          ),
        },
      }),
      { intervalMs: config.intervals.planMs, maxBackoffMs: config.intervals.maxBackoffMs },
    );
    const analyze = this.spawn(
      'analyze',
      analyzeMachine.provide({
        actors: {
          evaluate: fromPromise(async () => {
            const res = passDone('analyze', await this.inFlight.track(this.analyzePass()));
            // Plan looks at just the incidents that changed; a storm's start or end concerns every plan.
            const storm = [...res.openedTypes, ...res.resolvedTypes].includes('fleet_storm');
            if (res.opened + res.resolved > 0)
              plan.send(storm ? { type: 'knowledge.changed' } : { type: 'knowledge.changed', incidentIds: res.changedIds });
            return res;
          }),
        },
      }),
      { intervalMs: config.intervals.analyzeMs, maxBackoffMs: config.intervals.maxBackoffMs },
    );
    this.spawn(
      'monitor',
      monitorMachine.provide({
        actors: {
          sweep: fromPromise(async () => {
            const res = passDone('monitor', await this.inFlight.track(this.monitorPass()));
            if (res.changed > 0) analyze.send({ type: 'knowledge.changed' });
            return res;
          }),
        },
      }),
      { intervalMs: config.intervals.monitorMs, maxBackoffMs: config.intervals.maxBackoffMs },
    );
    this.sources = startMonitorSources({
      sources: config.sources,
      ports: this.parts.sourcePorts ?? {},
      store,
      audit: this.parts.audit,
      clock: this.parts.clock,
      metrics,
      log,
      concurrency: config.monitor.concurrency,
      maxBackoffMs: config.intervals.maxBackoffMs,
      freshnessMs: config.analyze.staleAfterMs,
      rotation: { rotateAtFraction: config.analyze.rotateAtFraction, graceMs: config.analyze.rotationGraceMs },
      spawn: (name, machine, input) => this.spawn(name, machine, input),
      track: (p) => this.inFlight.track(p),
      onChanged: () => {
        analyze.send({ type: 'knowledge.changed' });
      },
    });

    await this.parts.queue.startWorker(
      async (job, signal, delivery) => {
        const outcome = await processRemediationJob(job, this.actions, this.actionContext(), signal, delivery);
        if (outcome.retry !== true) metrics.actionFinished(job.action, outcome.result, outcome.performed);
        // A job finishing during shutdown has no plan loop left to nudge.
        if ((plan.getSnapshot() as { status: string }).status === 'active')
          plan.send({ type: 'knowledge.changed', incidentIds: [job.incidentId] });
        return outcome;
      },
      { concurrency: config.execute.concurrency },
    );
    metrics.stageState('execute', 'running');
    this.parts.redisLink?.onChange((c) => {
      // A connection closed by shutdown is not an outage.
      if (!this.running) return;
      if (c.kind === 'down') {
        log.error({ err: c.error }, 'redis unreachable: stages wait for it, nothing is decided or started until it returns');
        return;
      }
      log.warn({ downForMs: c.downForMs }, 'redis reachable again: stages resume');
      // Resume at once rather than at the next interval (a pass waiting on Redis resumes by itself).
      analyze.send({ type: 'knowledge.changed' });
      plan.send({ type: 'knowledge.changed' });
    });

    if (this.parts.serveHttp) {
      this.http = new DaemonHttpServer(metrics, {
        health: () => Promise.resolve(this.health()),
        readiness: () => Promise.resolve(this.readiness()),
      });
      this.httpAddress = await this.http.listen(config.http.listen);
      log.info({ address: this.httpAddress }, 'http server listening');
    }
    this.running = true;
    this.parts.playbookReloader?.start(PLAYBOOK_POLL_MS);
    log.info({ targets: config.targets.length, playbooks: this.parts.playbooks().map((p) => p.name) }, 'daemon started');
  }

  /**
   * Graceful shutdown: the execute worker stops fetching jobs first (a job not started stays
   * queued for the next worker or replica), then the stage loops stop; in-flight jobs finish or
   * are aborted after `graceMs` (recorded as retrying, or failed on their last delivery), in-flight
   * stage passes get the same grace; then the queue, HTTP and playbook watcher close.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const worker = this.parts.queue.stopWorker(graceMs);
    for (const a of this.actors) a.ref.stop();
    this.sources?.stop();
    await this.parts.playbookReloader?.stop();
    // Stopped actors do not stop the passes they started: let those finish before closing anything.
    if (!(await this.inFlight.settle(graceMs)))
      this.parts.log.warn({ pending: this.inFlight.size }, 'stage passes still running at shutdown');
    await worker;
    await this.parts.queue.close(graceMs);
    this.parts.metrics.stageState('execute', 'stopped');
    await this.http?.close();
    this.parts.log.info('daemon stopped');
  }

  /**
   * /readyz: Redis reachable, every stage actor running, no periodic stage stalled. Liveness is
   * not this: a daemon waiting for Redis is alive and must not be restarted for it.
   */
  readiness(): Readiness {
    const { config, clock, redisLink } = this.parts;
    return readinessOf({
      running: this.running,
      now: clock.now(),
      redis: redisLink?.state() ?? null,
      actors: this.actors.map((a) => ({ name: a.name, status: (a.ref.getSnapshot() as { status: string }).status })),
      lastPassAt: this.lastPassAt,
      stallAfterMs: this.parts.stallAfterMs ?? defaultStallAfterMs(config.intervals),
    });
  }

  /** Stage states for /healthz and `status` (ok while every actor runs), with Redis and readiness. */
  health(): { ok: boolean; detail: Record<string, unknown> } {
    const detail: Record<string, unknown> = {};
    let ok = this.running;
    for (const a of this.actors) {
      const snap = a.ref.getSnapshot() as { value: unknown; status: string; context: { lastError?: string | null } };
      detail[a.name] = { state: snap.value, status: snap.status, lastError: snap.context.lastError ?? null };
      if (snap.status !== 'active') ok = false;
    }
    const streams = Object.values(this.sources?.streamStates() ?? {});
    if (streams.length > 0) {
      const byState: Record<string, number> = {};
      for (const st of streams) byState[st] = (byState[st] ?? 0) + 1;
      detail['monitor.streams'] = byState;
    }
    const redis = this.parts.redisLink?.state();
    if (redis !== undefined) detail['redis'] = { ...redis, since: new Date(redis.since).toISOString() };
    detail['readiness'] = this.readiness();
    return { ok, detail };
  }

  private spawn(name: string, machine: AnyStateMachine, input: unknown): AnyActorRef {
    const ref = createActor(machine, { input } as never) as AnyActorRef;
    ref.subscribe({
      next: (snap: { value: unknown }) => {
        this.parts.metrics.stageState(name, String(snap.value));
      },
      error: (err: unknown) => {
        this.parts.log.error({ stage: name, err }, 'stage actor failed');
      },
    });
    ref.start();
    this.actors.push({ name, ref });
    return ref;
  }

  /** The Server API client for the configured SPIRE server, built once; null without one. */
  private spireServerPort(): SpireServerPort | null {
    if (this.spireServer === undefined) {
      const endpoint = this.parts.config.sources.spire?.server;
      const factory = this.parts.sourcePorts?.spireServer;
      this.spireServer = endpoint !== undefined && factory !== undefined ? factory(endpoint) : null;
    }
    return this.spireServer;
  }

  private actionContext(): ActionContext {
    const { store, audit, clock, envoy, config, sourcePorts: ports } = this.parts;
    return {
      store,
      audit,
      clock,
      envoy,
      rotation: { rotateAtFraction: config.analyze.rotateAtFraction, graceMs: config.analyze.rotationGraceMs },
      spireServer: this.spireServerPort(),
      kubernetes: ports?.kubernetes ?? null,
      cloudrun: ports?.cloudRun ?? null,
      spireHealth: ports?.spireHealth ?? null,
      agentDebug: ports?.agentDebug ?? null,
      secrets: ports?.secretStore ?? null,
      cloudRunBundle:
        config.sources.cloudRun === undefined
          ? null
          : { secret: config.sources.cloudRun.bundleSecret ?? null, locations: config.sources.cloudRun.locations },
      scope: {
        production: config.production,
        simulated: config.simulated === true,
        trustDomains: config.execute.trustDomains,
        namespaces: config.execute.namespaces,
      },
    };
  }

  private async monitorPass(): Promise<SweepResult> {
    const { store, audit, envoy, clock, metrics, config } = this.parts;
    const t0 = performance.now();
    const workloads = await store.listWorkloads();
    const res = await sweepEnvoys(
      {
        store,
        audit,
        envoy,
        clock,
        concurrency: config.monitor.concurrency,
        spreadOverMs: Math.floor(config.intervals.monitorMs / 2),
        rotation: { rotateAtFraction: config.analyze.rotateAtFraction, graceMs: config.analyze.rotationGraceMs },
        onObservation: (o, changed) => {
          metrics.observation(o.source, o.data.kind === 'probe.error' ? 'error' : 'ok', changed);
        },
      },
      workloads,
    );
    metrics.sweepDuration('monitor', (performance.now() - t0) / 1000);
    return res;
  }

  private async analyzePass(): Promise<AnalysisPassResult> {
    const { store, audit, clock, metrics, config } = this.parts;
    const t0 = performance.now();
    const res = await runAnalysisPass(
      {
        store,
        audit,
        config: {
          ...config.analyze,
          rotation: { rotateAtFraction: config.analyze.rotateAtFraction, graceMs: config.analyze.rotationGraceMs },
        },
      },
      clock.now(),
    );
    for (const t of res.openedTypes) metrics.incidentsOpened(t, 1);
    for (const t of res.resolvedTypes) metrics.incidentsResolved(t, 1);
    metrics.setOpenIncidents((await store.listIncidents({ status: 'open' })).length);
    metrics.sweepDuration('analyze', (performance.now() - t0) / 1000);
    return res;
  }

  /** One plan pass: every live plan (focus null), or just the incidents named. */
  private async planPass(focus: PlanFocus): Promise<PlanPassResult> {
    const { store, audit, clock, metrics, queue, playbooks } = this.parts;
    const t0 = performance.now();
    const rotation = { rotateAtFraction: this.parts.config.analyze.rotateAtFraction, graceMs: this.parts.config.analyze.rotationGraceMs };
    const res = await reconcilePlans(
      { store, audit, playbooks, rotation, enqueue: (req) => queue.enqueue(req) },
      clock.now(),
      focus ?? undefined,
    );
    metrics.setPaused(res.paused);
    // Phase and hold gauges describe every plan: only a full pass knows them all.
    if (focus === null) {
      metrics.setPlanPhases(res.phases);
      metrics.setPlansHeld(res.held);
    }
    metrics.sweepDuration('plan', (performance.now() - t0) / 1000);
    return res;
  }
}
