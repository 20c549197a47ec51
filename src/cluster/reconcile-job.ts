// What a node's worker does with one wake-up: reconcile its NodeAgent up to the
// job's seq (it reads the log from its own applied seq; the job carries no
// data), and fail the job while the node is failing, so BullMQ retries it with
// backoff. The result says how many map operations this job wrote: 0 for a
// wake-up whose commits the maps already hold (a retry, a duplicate).
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { NodeAgent } from '../agent/node-agent.js';
import type { ReconcileJobData, ReconcileJobResult } from './reconcile-queue.js';

export interface ReconcileJobOptions {
  logger: Logger;
  /** after every job (publish the node status) */
  onDone?: () => void;
  /** fault injection for tests: hold each job this long before reconciling */
  holdMs?: number;
}

export function reconcileJob(agent: NodeAgent, opts: ReconcileJobOptions): (job: Job<ReconcileJobData, ReconcileJobResult>) => Promise<ReconcileJobResult> {
  const { logger } = opts;
  let opsTotal = 0;
  agent.on('applied', (e) => void (opsTotal += e.result.ops));
  return async (job) => {
    const { upToSeq, enqueuedAt } = job.data;
    logger.debug({ job: job.id, upToSeq, attempt: job.attemptsMade + 1, pickupMs: Date.now() - enqueuedAt }, 'job started');
    if (opts.holdMs && opts.holdMs > 0) {
      logger.info({ job: job.id, holdMs: opts.holdMs }, 'job started (fault injection: holding it)');
      await new Promise((r) => setTimeout(r, opts.holdMs));
    }
    const opsBefore = opsTotal;
    const t0 = performance.now();
    let st;
    try {
      st = await agent.reconcile(upToSeq);
    } finally {
      opts.onDone?.();
    }
    const reconcileMs = Math.round((performance.now() - t0) * 10) / 10;
    if (st.state === 'failing') {
      // BullMQ retries the wake-up with backoff; the maps stay on the last good commit meanwhile.
      throw new Error(`node ${agent.node} could not apply up to seq ${upToSeq}: ${st.lastError?.message ?? 'failing'}`);
    }
    const result: ReconcileJobResult = { appliedSeq: st.appliedSeq, appliedCommit: st.appliedCommit, ops: opsTotal - opsBefore };
    logger.debug({ job: job.id, ...result, reconcileMs }, 'job done');
    return result;
  };
}
