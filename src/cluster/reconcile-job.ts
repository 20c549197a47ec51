// BullMQ as the node agent's wake source (multi-node). A job says "reconcile
// up to seq N" and carries no data: it wakes the agent's scheduler and
// completes once a pass begun after it arrived has read the log to its head
// (≥ N), folded it and tried to apply it. The result is the node's outcome:
// appliedSeq and appliedCommit (below N while the node is failing), state and
// error, and the map operations written meanwhile (0 when the maps already
// held it: a duplicate, a job taken again after a kill). A failed apply does
// not fail the job and BullMQ does not retry it: the agent's own backoff
// does, as in embedded mode. A job fails only when its processor throws.
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { WakeSource, WakeTarget } from '../agent/wake-source.js';
import { boundedClose, createReconcileWorker, type ReconcileJobData, type ReconcileJobResult } from './reconcile-queue.js';

export interface ReconcileJobOptions {
  logger: Logger;
  /** after every job (publish the node status) */
  onDone?: () => void;
  /** fault injection for tests: hold each job this long before waking the agent */
  holdMs?: number;
}

/** The job processor: wake `target` up to the job's seq and report where the node is then. */
export function reconcileJob(target: WakeTarget, opts: ReconcileJobOptions): (job: Job<ReconcileJobData, ReconcileJobResult>) => Promise<ReconcileJobResult> {
  const { logger } = opts;
  return async (job) => {
    const { upToSeq, enqueuedAt } = job.data;
    logger.debug({ job: job.id, upToSeq, pickupMs: Date.now() - enqueuedAt }, 'job started');
    if (opts.holdMs && opts.holdMs > 0) {
      logger.info({ job: job.id, holdMs: opts.holdMs }, 'job started (fault injection: holding it)');
      await new Promise((r) => setTimeout(r, opts.holdMs));
    }
    const t0 = performance.now();
    let woken;
    try {
      woken = await target.wake(upToSeq);
    } finally {
      opts.onDone?.();
    }
    const { status, ops } = woken;
    const result: ReconcileJobResult = {
      appliedSeq: status.appliedSeq,
      appliedCommit: status.appliedCommit,
      ops,
      state: status.state,
      error: status.lastError?.message ?? null,
    };
    const reconcileMs = Math.round((performance.now() - t0) * 10) / 10;
    if (status.appliedSeq < upToSeq && status.state === 'failing')
      logger.warn({ job: job.id, upToSeq, ...result, retryAt: status.nextRetryAt }, 'job done; the node is failing and retries on its own backoff');
    else logger.debug({ job: job.id, ...result, reconcileMs }, 'job done');
    return result;
  };
}

export interface JobWakeSourceOptions extends ReconcileJobOptions {
  /** must have maxRetriesPerRequest: null (BullMQ's blocking commands) */
  connection: Redis;
  prefix: string;
  node: string;
  /** job lock; a killed agent's job is taken again after about this long */
  lockMs: number;
}

/** The node's BullMQ worker (concurrency 1, its own queue) as a wake source: started by the agent's run(), closed first by its stop(). */
export function jobWakeSource(opts: JobWakeSourceOptions): WakeSource {
  const { logger, lockMs } = opts;
  return {
    async run(target, signal) {
      if (signal.aborted) return;
      let lastWorkerError = '';
      const worker = createReconcileWorker(opts.connection, opts.prefix, opts.node, reconcileJob(target, opts), {
        lockMs,
        onError: (err) => {
          if (err.message !== lastWorkerError) logger.warn({ err: err.message }, 'job queue: redis trouble; the worker reconnects on its own');
          lastWorkerError = err.message;
        },
      });
      worker.on('failed', (job, err) => logger.warn({ job: job?.id, err: err.message }, 'job failed'));
      const stopped = new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      try {
        await Promise.race([worker.waitUntilReady(), stopped]);
        if (!signal.aborted) logger.info({ queue: worker.name, lockMs }, 'taking reconcile jobs');
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'job queue not ready; the worker keeps trying');
      }
      await stopped;
      // The job in hand finishes (the agent still runs its pass). During a Redis outage
      // it cannot be marked done: give up after a while (it is taken again, harmlessly).
      if ((await boundedClose(worker.close(), lockMs)) === 'timed out') {
        logger.warn('the current job could not be finished (redis unreachable?); it will be taken again');
        await boundedClose(worker.close(true), 1000);
      }
    },
  };
}
