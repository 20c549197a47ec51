// BullMQ glue: the watcher enqueues "reconcile up to seq N" per live node; each
// node's worker (concurrency 1) takes its own queue. Jobs are wake-ups, not
// data: the agent reads the log from its own applied seq, so a duplicated job
// or one taken again after a kill cannot reorder or repeat anything. The job
// id is node + seq, so the same wake-up enqueued twice (a watcher restart, a
// re-send after a Redis restart) is one job. What a job's outcome means:
// reconcile-job.ts.
import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AgentState } from '../agent/agent-status.js';
import { clusterKeys, reconcileJobId, reconcileQueueName } from './cluster-keys.js';

export interface ReconcileJobData {
  node: string;
  /** the log head when the watcher enqueued this */
  upToSeq: number;
  /** ms since the epoch, for the pick-up delay in the agent's log */
  enqueuedAt: number;
}

export interface ReconcileJobResult {
  appliedSeq: number;
  appliedCommit: string | null;
  /** map operations written while this job waited for its pass (0 when the maps already held it: a duplicate, a job taken again) */
  ops: number;
  /** the node's state after the pass: "failing" when the apply failed (the agent retries it on its own backoff) */
  state: AgentState;
  /** the node's last error then, null when none */
  error: string | null;
}

export const RECONCILE_JOB = 'reconcile';

/**
 * One attempt: a job completes once the agent tried, whatever the outcome, and
 * retrying a failed apply is the agent's (its backoff). Finished jobs are kept
 * a while so their ids still dedupe.
 */
export const RECONCILE_JOB_OPTIONS: JobsOptions = {
  attempts: 1,
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 1000 },
};

/** The watcher's side: one Queue per node, created on first use. */
export class WakeUps {
  private readonly queues = new Map<string, Queue<ReconcileJobData, ReconcileJobResult>>();
  /** the last seq enqueued per node, so an idle poll enqueues nothing */
  private readonly sent = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
    /** connection trouble of the queues (a Redis outage); without a listener BullMQ prints each one as a stack trace on stderr */
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  queue(node: string): Queue<ReconcileJobData, ReconcileJobResult> {
    let q = this.queues.get(node);
    if (!q) {
      q = new Queue<ReconcileJobData, ReconcileJobResult>(reconcileQueueName(node), { connection: this.redis, prefix: clusterKeys(this.prefix).bull });
      q.on('error', (err: Error) => this.onError(err));
      this.queues.set(node, q);
    }
    return q;
  }

  /** Enqueue "reconcile up to seq" for each node not yet woken for it. Returns the nodes enqueued. */
  async wake(nodes: readonly string[], seq: number): Promise<string[]> {
    if (seq <= 0) return [];
    const todo = nodes.filter((n) => (this.sent.get(n) ?? 0) < seq);
    await Promise.all(
      todo.map(async (node) => {
        await this.queue(node).add(
          RECONCILE_JOB,
          { node, upToSeq: seq, enqueuedAt: Date.now() },
          { ...RECONCILE_JOB_OPTIONS, jobId: reconcileJobId(node, seq) },
        );
        this.sent.set(node, seq);
      }),
    );
    return todo;
  }

  /** Forget what was sent (after a Redis restart: re-enqueueing is harmless, missing a wake-up is not). */
  forget(): void {
    this.sent.clear();
  }

  /** Closes the queues; during a Redis outage it gives up after timeoutMs (the connection is closed next anyway). */
  async close(timeoutMs = 2000): Promise<void> {
    const queues = [...this.queues.values()];
    this.queues.clear();
    await boundedClose(Promise.all(queues.map((q) => q.close())), timeoutMs);
  }
}

/** Resolves when `closing` settles or after timeoutMs, whichever is first: a shutdown never hangs on a dead Redis. */
export async function boundedClose(closing: Promise<unknown>, timeoutMs: number): Promise<'closed' | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timed out'>((r) => (timer = setTimeout(() => r('timed out'), timeoutMs)));
  try {
    return await Promise.race([
      closing.then(
        () => 'closed' as const,
        () => 'closed' as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ReconcileWorkerOptions {
  /** job lock; a killed agent's job is taken again after about this long (default 30 s) */
  lockMs?: number;
  onError?: (err: Error) => void;
}

/** The node's worker: concurrency 1, its own queue. `connection` must have maxRetriesPerRequest: null. */
export function createReconcileWorker(
  connection: Redis,
  prefix: string,
  node: string,
  process: (job: Job<ReconcileJobData, ReconcileJobResult>) => Promise<ReconcileJobResult>,
  opts: ReconcileWorkerOptions = {},
): Worker<ReconcileJobData, ReconcileJobResult> {
  const lockMs = opts.lockMs ?? 30_000;
  const worker = new Worker<ReconcileJobData, ReconcileJobResult>(reconcileQueueName(node), process, {
    connection,
    prefix: clusterKeys(prefix).bull,
    concurrency: 1,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    // a stalled wake-up (its agent died) goes back to wait; taking it again is harmless, so allow many
    maxStalledCount: 100,
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 1000 },
  });
  // An 'error' event without a listener would throw: BullMQ reports connection trouble here.
  worker.on('error', (err) => opts.onError?.(err));
  return worker;
}
