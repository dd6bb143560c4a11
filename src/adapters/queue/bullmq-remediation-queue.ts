import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { RemediationJob, RemediationProcessor, RemediationQueuePort } from '../../ports/remediation-queue.port.js';

/** Deliveries of one job: the first plus two retries of a transient failure. */
const DELIVERIES = 3;

/** Where the queue lives and what it is called. */
export interface BullmqQueueOptions {
  readonly redisUrl: string;
  /** Shared key prefix of this daemon; BullMQ keys go under `${keyPrefix}:bull`. */
  readonly keyPrefix: string;
  readonly queueName?: string;
  readonly onError?: (err: Error) => void;
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
      // Transient failures are retried with exponential backoff; permanent ones are not (the
      // processor returns them as a terminal outcome instead of throwing).
      attempts: DELIVERIES,
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
      const outcome = await processor(job.data, signal ?? new AbortController().signal, { attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1 });
      // Throwing hands the job back to BullMQ, which schedules the next delivery after its backoff.
      if (outcome.retry === true) throw new Error(outcome.detail);
      return outcome;
    };
    this.worker = new Worker<RemediationJob>(this.name, run, {
      connection: this.workerConn,
      prefix: this.prefix,
      concurrency: opts?.concurrency ?? 4,
      lockDuration: 30_000,
      maxStalledCount: 1,
    });
    this.worker.on('error', (e) => this.opts.onError?.(e));
    await this.worker.waitUntilReady();
  }

  async close(graceMs = 10_000): Promise<void> {
    if (this.worker !== null) {
      const w = this.worker;
      const closing = w.close();
      const timer = setTimeout(() => { w.cancelAllJobs('spire-healer shutting down'); }, graceMs);
      try {
        await closing;
      } finally {
        clearTimeout(timer);
      }
    }
    await this.queue.close();
    await Promise.allSettled([this.producerConn.quit(), this.workerConn?.quit()]);
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  }
}
