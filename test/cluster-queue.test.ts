// The wake-up queue over a real redis-server: job ids from node + seq dedupe
// (also across a watcher restart), only the named node's worker takes its jobs,
// one at a time, and a job that fails is not retried by BullMQ (retrying is
// the agent's: its scheduler's backoff).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, type Job } from 'bullmq';
import { reconcileJobId, reconcileQueueName } from '../src/cluster/cluster-keys.js';
import { createReconcileWorker, WakeUps, type ReconcileJobData, type ReconcileJobResult } from '../src/cluster/reconcile-queue.js';
import { connectClusterRedis } from '../src/cluster/redis-connection.js';
import { uniqueSuffix } from '../testbed/netns.js';
import { startRedisServer } from '../testbed/redis-server.js';
import { until } from '../testbed/multinode-cluster.js';

test('wake-ups: one job per node and seq, deduped across watcher restarts', async (t) => {
  const server = await startRedisServer();
  const prefix = `rauta-q-${uniqueSuffix()}`;
  const redis = await connectClusterRedis(server.url, { purpose: 'test' });
  const first = new WakeUps(redis, prefix);
  const second = new WakeUps(redis, prefix);
  // after hooks run in order: queues, then the connection, then the server
  t.after(async () => {
    await first.close();
    await second.close();
    redis.disconnect();
    await server.dispose();
  });
  assert.deepEqual(await first.wake(['a', 'b'], 5), ['a', 'b'], 'both nodes woken for seq 5');
  assert.deepEqual(await first.wake(['a', 'b'], 5), [], 'the same seq again: nothing to send');
  assert.deepEqual(await first.wake(['a', 'b', 'c'], 5), ['c'], 'a node that registered since is woken');
  // A restarted watcher remembers nothing and sends seq 5 again: the job id makes it the same job.
  assert.deepEqual(await second.wake(['a'], 5), ['a']);
  await second.wake(['a'], 7);
  const q = first.queue('a');
  const jobs = await q.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed']);
  assert.deepEqual(
    jobs.map((j) => j.id).sort(),
    [reconcileJobId('a', 5), reconcileJobId('a', 7)],
    `two distinct wake-ups for node a, no duplicate: ${jobs.map((j) => j.id).join(', ')}`,
  );
  assert.deepEqual(jobs.map((j) => j.data.upToSeq).sort(), [5, 7]);
  assert.equal(await first.queue('b').count(), 1, 'node b has its one wake-up');
});

test('a node worker takes only its own jobs, one at a time; BullMQ does not retry a failed job', async (t) => {
  const server = await startRedisServer();
  const prefix = `rauta-q-${uniqueSuffix()}`;
  const redis = await connectClusterRedis(server.url, { purpose: 'test' });
  const wake = new WakeUps(redis, prefix);
  const closers: Array<() => Promise<unknown>> = [() => wake.close()];
  t.after(async () => {
    for (const c of closers.reverse()) await c();
    redis.disconnect();
    await server.dispose();
  });

  const seen: Array<{ seq: number; attempt: number }> = [];
  let active = 0;
  let maxActive = 0;
  let failOnce = true;
  const errors: Error[] = [];
  const worker = createReconcileWorker(
    redis,
    prefix,
    'a',
    async (job: Job<ReconcileJobData, ReconcileJobResult>) => {
      active++;
      maxActive = Math.max(maxActive, active);
      seen.push({ seq: job.data.upToSeq, attempt: job.attemptsMade + 1 });
      await new Promise((r) => setTimeout(r, 20));
      active--;
      if (job.data.upToSeq === 2 && failOnce) {
        failOnce = false;
        throw new Error('injected: the apply failed');
      }
      return { appliedSeq: job.data.upToSeq, appliedCommit: null, ops: 1, state: 'ready', error: null };
    },
    { onError: (e) => errors.push(e) },
  );
  closers.push(() => worker.close());
  for (const seq of [1, 2, 3]) await wake.wake(['a', 'b'], seq);
  const qa = new Queue(reconcileQueueName('a'), { connection: redis, prefix: `${prefix}:bull` });
  closers.push(() => qa.close());
  await until(async () => (await qa.getCompletedCount()) === 2 && (await qa.getFailedCount()) === 1, 'two jobs of node a completed, one failed');
  assert.equal(maxActive, 1, 'concurrency 1: never two jobs of a node at once');
  assert.deepEqual(
    seen.map((s) => `${s.seq}/${s.attempt}`),
    ['1/1', '2/1', '3/1'],
    `each wake-up taken once, the failed one not retried: ${JSON.stringify(seen)}`,
  );
  assert.equal(await wake.queue('b').getWaitingCount(), 3, "node b's jobs wait for node b's worker");
  assert.deepEqual(errors, [], 'no worker errors');
});
