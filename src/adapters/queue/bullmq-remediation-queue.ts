import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { deliveriesOf } from '../../knowledge/errors/job-deliveries.js';
import type { RemediationJob, RemediationProcessor, RemediationQueuePort } from '../../ports/remediation-queue.port.js';

/** The abort reason an in-flight job sees when shutdown's grace period runs out. */
export const SHUTDOWN_ABORT_REASON = 'aborted: spire-healer shutting down, grace period over';

/** Where the queue lives and what it is called. */
export interface BullmqQueueOptions {
  readonly redisUrl: string;
  /** Shared key prefix of this daemon; BullMQ keys go under `${keyPrefix}:bull`. */
  readonly keyPrefix: string;
  readonly queueName?: string;
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
  private workerStopped: Promise<void> | null = null;
  private readonly prefix: string;
  private readonly name: string;

  constructor(private readonly opts: BullmqQueueOptions) {
    this.prefix = `${opts.keyPrefix}:bull`;
    this.name = opts.queueName ?? 'remediation';
    this.producerConn = new Redis(opts.redisUrl, { maxRetriesPerRequest: 3 });
    this.producerConn.on('error', (e) => opts.onError?.(e));
    this.queue = new Queue<RemediationJob>(this.name, { connection: this.producerConn, prefix: this.prefix });
    this.queue.on('error', (e) => opts.onError?.(e));
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
    this.workerConn.on('error', (e) => this.opts.onError?.(e));
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
    this.worker.on('error', (e) => this.opts.onError?.(e));
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
        await closing;
      } finally {
        clearTimeout(timer);
      }
      await this.workerConn?.quit().catch(() => undefined);
    })();
    return this.workerStopped;
  }

  async close(graceMs = 10_000): Promise<void> {
    await this.stopWorker(graceMs);
    await this.queue.close();
    await this.producerConn.quit().catch(() => undefined);
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  }
}
