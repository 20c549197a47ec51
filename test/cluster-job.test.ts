// A node's wake-up job end to end in one process: the Redis Streams log (real
// redis-server), a NodeAgent on real maps behind the fault-injection wrapper,
// the BullMQ worker with the job processor `rauta agent` uses. A failed apply
// fails the job (the node is failing, the maps stay on the last good commit),
// BullMQ retries it with backoff, and once the fault is gone the retry applies;
// a duplicate wake-up afterwards writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { pino } from 'pino';
import { NodeAgent } from '../src/agent/node-agent.js';
import { reconcileJobId } from '../src/cluster/cluster-keys.js';
import { reconcileJob } from '../src/cluster/reconcile-job.js';
import { createReconcileWorker, WakeUps, type ReconcileJobResult } from '../src/cluster/reconcile-queue.js';
import { connectClusterRedis } from '../src/cluster/redis-connection.js';
import { injectFaults } from '../src/dataplane/fault-injection.js';
import { openEventLog } from '../src/events/event-log.js';
import { commitEvents, commitSha, dumpAll, listener, loadTestProgram, macsFor, probe, route, VIP } from './fixtures/agent-routes.js';
import { uniqueSuffix } from '../testbed/netns.js';
import { startRedisServer } from '../testbed/redis-server.js';

/** Poll until fn() is truthy (a hang guard, not a timing assertion). */
async function until<T>(fn: () => Promise<T | null | false>, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a failed apply fails the wake-up, BullMQ retries it, and the retry applies once the fault is gone', async (t) => {
  const prog = loadTestProgram(t, 'cluster-job');
  if (!prog) return;
  const server = await startRedisServer();
  const prefix = `rauta-job-${uniqueSuffix()}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'rauta-cluster-job-'));
  const writer = await openEventLog(server.url, { prefix, writer: true });
  const reader = await openEventLog(server.url, { prefix });
  const redis = await connectClusterRedis(server.url, { purpose: 'test' });
  const wake = new WakeUps(redis, prefix);
  const logger = pino({ level: process.env.RAUTA_TEST_LOG ?? 'silent' });
  const r1 = route('GET', '/job', [['10.3.0.1', 8080]]);
  const r2 = route('GET', '/job', [['10.3.0.2', 8080]]);
  const faults = injectFaults(prog.typed);
  const agent = new NodeAgent({ node: 'n1', log: reader, maps: faults.maps, stateDir, logger, nexthops: async () => macsFor([r1, r2]) });
  let worker: ReturnType<typeof createReconcileWorker> | null = null;
  // one hook, in order: worker and queues, agent, logs and connection, then the server
  t.after(async () => {
    await worker?.close();
    await wake.close();
    await agent.stop();
    await reader.close();
    await writer.close();
    redis.disconnect();
    await server.dispose();
    rmSync(stateDir, { recursive: true, force: true });
  });

  await writer.append(commitEvents(1, { listeners: [listener(VIP, 80)], upsert: [r1] }));
  assert.equal((await agent.start()).appliedCommit, commitSha(1));
  let jobsDone = 0;
  worker = createReconcileWorker(redis, prefix, 'n1', reconcileJob(agent, { logger, onDone: () => jobsDone++ }), { lockMs: 5000 });

  // Every map write fails: the wake-up for commit 2 fails and is retried with backoff.
  faults.reset({ failAll: true });
  const before = dumpAll(prog.typed);
  const head = (await writer.append(commitEvents(2, { upsert: [r2] }))).at(-1)!.seq;
  await wake.wake(['n1'], head);
  const queue = wake.queue('n1');
  const id = reconcileJobId('n1', head);
  const failedOnce = await until(async () => {
    const j = await Job.fromId<unknown, ReconcileJobResult>(queue, id);
    return j && j.attemptsMade >= 1 && (await j.getState()) !== 'completed' ? j : null;
  }, 'the first attempt fails');
  assert.match(failedOnce.failedReason ?? '', /node n1 could not apply up to seq \d+: .*injected fault/, `the job says why: ${failedOnce.failedReason}`);
  assert.equal(agent.status().state, 'failing', 'the node is failing');
  assert.equal(agent.status().appliedCommit, commitSha(1), 'the node stays on the last good commit');
  assert.deepEqual(dumpAll(prog.typed), before, 'the failed apply was rolled back: the maps are as they were');

  // The fault goes away: the retry applies commit 2.
  faults.reset();
  const done = await until(async () => {
    const j = await Job.fromId<unknown, ReconcileJobResult>(queue, id);
    return j && (await j.getState()) === 'completed' ? j : null;
  }, 'the retried job completes');
  assert.ok(done.attemptsMade >= 2, `completed on a retry (attempts ${done.attemptsMade})`);
  assert.equal(done.returnvalue.appliedCommit, commitSha(2));
  assert.ok(done.returnvalue.ops > 0, `the retry wrote the change: ${JSON.stringify(done.returnvalue)}`);
  assert.equal(probe(prog, 'GET', '/job').dstIp, '10.3.0.2', 'the route moved to its new backend');
  assert.equal(agent.status().state, 'ready');

  // A second wake-up for the same head (a restarted watcher) is the same job id: nothing new runs.
  const fresh = new WakeUps(redis, prefix);
  await fresh.wake(['n1'], head);
  await fresh.close();
  assert.equal((await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'])).filter((j) => j.id === id).length, 1, 'one job for node and seq');
  // A newer wake-up with nothing new to apply (a commit that changes nothing here) writes nothing.
  const head2 = (await writer.append(commitEvents(3, {}))).at(-1)!.seq;
  await wake.wake(['n1'], head2);
  const noop = await until(async () => {
    const j = await Job.fromId<unknown, ReconcileJobResult>(queue, reconcileJobId('n1', head2));
    return j && (await j.getState()) === 'completed' ? j : null;
  }, 'the no-op wake-up completes');
  assert.deepEqual([noop.returnvalue.ops, noop.returnvalue.appliedSeq], [0, head2], `nothing to write: ${JSON.stringify(noop.returnvalue)}`);
  assert.ok(jobsDone >= 3, `onDone after every attempt (${jobsDone})`);
});
