import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { deliveriesOf } from '../../knowledge/errors/job-deliveries.js';
import { quitWithin } from '../redis/redis-link.js';
import type { RemediationJob, RemediationProcessor, RemediationQueuePort } from '../../ports/remediation-queue.port.js';

/** The abort reason an in-flight job sees when shutdown's grace period runs out. */
export const SHUTDOWN_ABORT_REASON = 'aborted: spire-healer shutting down, grace period over';

/** Where the queue lives and what it is called. */
export interface BullmqQueueOptions {
  readonly redisUrl: string;
  /** Shared key prefix of this daemon; BullMQ keys go under `${keyPrefix}:bull`. */
  readonly keyPrefix: string;
  readonly queueName?: string;
  /** Connection errors: the first one of each outage per connection (not every reconnect attempt). */
  readonly onError?: (err: Error) => void;
  /**
   * How long a worker's lock on an active job lasts (renewed every half of it while the job runs).
   * A worker that dies mid-job (SIGKILL, OOM, lost node) stops renewing, so its job becomes stalled
   * this long after the last renewal. Default 30 s.
   */
  readonly lockDurationMs?: number;
  /**
   * How often a worker looks for stalled jobs (active, lock expired) and moves them back to
   * waiting for any worker to pick up. Default 30 s. A dead worker's job is therefore redelivered
   * within roughly lockDurationMs + 2 × stalledIntervalMs; one stall is recovered, a second fails
   * the job (`maxStalledCount` 1).
   */
  readonly stalledIntervalMs?: number;
}

/**
 * RemediationQueuePort on BullMQ 6. The job id is the plan's deterministic id, so a step added
 * twice (restart, second replica) exists once. Completed jobs are kept a day so that window also
 * deduplicates; failures a week, for inspection.
 */
export class BullmqRemediationQueue implements RemediationQueuePort {
  private readonly producerConn: Redis;
  private readonly queue: Queue<RemediationJob>;
  private worker: Worker<RemediationJob> | null = null;
  private workerConn: Redis | null = null;
  private readonly workerDuplicates: Redis[] = [];
  private workerStopped: Promise<void> | null = null;
  private readonly prefix: string;
  private readonly name: string;

  constructor(private readonly opts: BullmqQueueOptions) {
    this.prefix = `${opts.keyPrefix}:bull`;
    this.name = opts.queueName ?? 'remediation';
    // The only producer is the plan pass: while Redis is away an enqueue waits for it (as the
    // knowledge writes of the same pass do) instead of failing the pass into a long backoff.
    this.producerConn = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
    const report = oncePerOutage(this.producerConn, opts.onError);
    this.producerConn.on('error', report);
    this.queue = new Queue<RemediationJob>(this.name, { connection: this.producerConn, prefix: this.prefix });
    this.queue.on('error', report);
  }

  async enqueue(job: RemediationJob): Promise<boolean> {
    if ((await this.queue.getJob(job.id)) !== undefined) return false;
    await this.queue.add('remediate', job, {
      jobId: job.id,
      // Retryable failures are delivered again with exponential backoff (3 deliveries, or a notify
      // step's params.attempts); a permanent one ends the job at once (UnrecoverableError below).
      attempts: deliveriesOf(job),
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 604_800 },
    });
    return true;
  }

  async startWorker(processor: RemediationProcessor, opts?: { readonly concurrency?: number }): Promise<void> {
    if (this.worker !== null) return;
    this.workerConn = new Redis(this.opts.redisUrl, { maxRetriesPerRequest: null });
    const report = oncePerOutage(this.workerConn, this.opts.onError);
    // The worker runs on duplicates of this connection (one for commands, one for its blocking
    // fetch); keep them, so a shutdown during an outage can drop them (see stopWorker).
    const duplicate = this.workerConn.duplicate.bind(this.workerConn);
    this.workerConn.duplicate = (override) => {
      const d = duplicate(override);
      this.workerDuplicates.push(d);
      return d;
    };
    this.workerConn.on('error', report);
    // Three declared parameters: BullMQ only creates the AbortSignal when the processor takes it.
    const run = async (job: Job<RemediationJob>, _token: string | undefined, signal: AbortSignal | undefined) => {
      const outcome = await processor(job.data, signal ?? new AbortController().signal, {
        attempt: job.attemptsMade + 1,
        maxAttempts: job.opts.attempts ?? 1,
      });
      // Throwing hands the job back to BullMQ, which schedules the next delivery after its backoff.
      if (outcome.retry === true) throw new Error(outcome.detail);
      // A permanent failure (recorded and audited by the processor already) fails the job now,
      // whatever deliveries are left: BullMQ's UnrecoverableError skips the remaining attempts.
      if (outcome.permanent === true) throw new UnrecoverableError(outcome.detail);
      return outcome;
    };
    this.worker = new Worker<RemediationJob>(this.name, run, {
      connection: this.workerConn,
      prefix: this.prefix,
      concurrency: opts?.concurrency ?? 4,
      lockDuration: this.opts.lockDurationMs ?? 30_000,
      stalledInterval: this.opts.stalledIntervalMs ?? 30_000,
      maxStalledCount: 1,
    });
    this.worker.on('error', report);
    await this.worker.waitUntilReady();
  }

  /**
   * Graceful stop of this worker: it stops fetching at once (a job not yet started stays waiting
   * for the next worker), lets in-flight jobs finish, and after `graceMs` aborts their signal
   * (SHUTDOWN_ABORT_REASON) so they end and are recorded (retried later while deliveries are left).
   * Resolves when no job is in flight and the worker's connection is closed; the producer side
   * (enqueue, counts) stays usable. Idempotent.
   */
  stopWorker(graceMs = 10_000): Promise<void> {
    const w = this.worker;
    if (w === null) return Promise.resolve();
    this.workerStopped ??= (async () => {
      // close() marks the worker closing synchronously: from here on it fetches nothing.
      const closing = w.close();
      const timer = setTimeout(() => {
        w.cancelAllJobs(SHUTDOWN_ABORT_REASON);
      }, graceMs);
      try {
        // Bounded: during a Redis outage close() waits for a blocking fetch that never returns (and
        // its connection reconnects forever): drop the worker's connections so shutdown still ends.
        const closed = await Promise.race([
          closing.then(() => true),
          new Promise<false>((r) => setTimeout(r, graceMs + 2_000, false).unref()),
        ]);
        if (!closed) {
          for (const c of this.workerDuplicates) {
            c.disconnect();
            // ioredis emits no 'end' for a client dropped while reconnecting, and BullMQ's close
            // waits for that event before it stops its lock and stall timers.
            if (c.status !== 'end') c.emit('end');
          }
          const stillClosing = await Promise.race([
            closing.then(() => false),
            new Promise<true>((r) => setTimeout(r, 2_000, true).unref()),
          ]);
          // Still waiting (its main loop retries a fetch on a dropped connection): stop the two
          // timers BullMQ would stop at the end of close(), so nothing keeps the process alive.
          if (stillClosing) {
            const internals = w as unknown as { lockManager?: { close(): Promise<void> }; stalledCheckStopper?: () => void };
            await internals.lockManager?.close();
            internals.stalledCheckStopper?.();
          }
        }
      } finally {
        clearTimeout(timer);
      }
      if (this.workerConn !== null) await quitWithin(this.workerConn, 2_000);
    })();
    return this.workerStopped;
  }

  async close(graceMs = 10_000): Promise<void> {
    await this.stopWorker(graceMs);
    // Queue.close() waits for Redis; during an outage the process must still stop.
    await Promise.race([this.queue.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000).unref())]);
    await quitWithin(this.producerConn, 2_000);
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  }
}

/**
 * Reports the first error of each outage of `conn` (until it is ready again), so a Redis that is
 * away for a minute logs one line per connection, not one per reconnect attempt or failed fetch.
 */
function oncePerOutage(conn: Redis, report: ((err: Error) => void) | undefined): (err: Error) => void {
  let reported = false;
  conn.on('ready', () => {
    reported = false;
  });
  return (err) => {
    if (reported) return;
    reported = true;
    report?.(err);
  };
}
