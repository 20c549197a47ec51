// A node's wake-up job end to end in one process: the Redis Streams log (real
// redis-server), a NodeAgent on real maps behind the fault-injection wrapper,
// run() with the BullMQ wake source `rauta agent` uses. A job completes once
// the agent has tried to apply up to its seq, and its result says where the
// node is: a failed apply completes the job with state "failing" (the maps
// stay on the last good commit); BullMQ does not retry it, the agent's own
// backoff does, and the node converges with no further job. A duplicate
// wake-up is one job; a wake-up with nothing new writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { pino } from 'pino';
import { NodeAgent } from '../src/agent/node-agent.js';
import { reconcileJobId } from '../src/cluster/cluster-keys.js';
import { jobWakeSource } from '../src/cluster/reconcile-job.js';
import { WakeUps, type ReconcileJobResult } from '../src/cluster/reconcile-queue.js';
import { connectClusterRedis } from '../src/cluster/redis-connection.js';
import { injectFaults } from '../src/dataplane/fault-injection.js';
import { openEventLog } from '../src/events/event-log.js';
import { commitEvents, commitSha, dumpAll, listener, loadTestProgram, macsFor, probe, route, VIP } from './fixtures/agent-routes.js';
import { uniqueSuffix } from '../testbed/netns.js';
import { startRedisServer } from '../testbed/redis-server.js';
import { until } from '../testbed/multinode-cluster.js';

test("a job completes once the agent tried; a failed apply is retried by the agent's backoff, not by BullMQ", async (t) => {
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
  let jobsDone = 0;
  const wakeSource = jobWakeSource({ connection: redis, prefix, node: 'n1', lockMs: 5000, logger, onDone: () => jobsDone++ });
  const agent = new NodeAgent({
    node: 'n1',
    log: reader,
    maps: faults.maps,
    stateDir,
    logger,
    nexthops: async () => macsFor([r1, r2]),
    wakeSource,
    retryInitialMs: 50,
    retryMaxMs: 200,
  });
  let running: Promise<void> | null = null;
  // one hook, in order: the agent (its job worker first), queues, logs and connection, then the server
  t.after(async () => {
    await agent.stop();
    await running;
    await wake.close();
    await reader.close();
    await writer.close();
    redis.disconnect();
    await server.dispose();
    rmSync(stateDir, { recursive: true, force: true });
  });

  await writer.append(commitEvents(1, { listeners: [listener(VIP, 80)], upsert: [r1] }));
  assert.equal((await agent.start()).appliedCommit, commitSha(1));
  const applied: string[] = [];
  agent.on('applied', (e) => applied.push(`${e.reason}:${e.commit?.slice(-2)}`));
  running = agent.run();

  // Every map write fails: the wake-up for commit 2 completes, saying the node is failing.
  faults.reset({ failAll: true });
  const before = dumpAll(prog.typed);
  const head = (await writer.append(commitEvents(2, { upsert: [r2] }))).at(-1)!.seq;
  await wake.wake(['n1'], head);
  const queue = wake.queue('n1');
  const id = reconcileJobId('n1', head);
  const done = await until(async () => {
    if ((await queue.getJobState(id)) !== 'completed') return null;
    return (await Job.fromId<unknown, ReconcileJobResult>(queue, id)) ?? null;
  }, 'the wake-up completes');
  const r = done.returnvalue;
  assert.deepEqual(
    [r.appliedSeq, r.appliedCommit, r.ops, r.state],
    [3, commitSha(1), 0, 'failing'],
    `the job says the node is failing on commit 1: ${JSON.stringify(r)}`,
  );
  assert.match(r.error ?? '', /injected fault/, 'the job carries the error');
  assert.equal(agent.status().appliedCommit, commitSha(1), 'the node stays on the last good commit');
  assert.ok(agent.status().consecutiveFailures >= 1 && agent.status().nextRetryAt !== null, 'the agent schedules its own retry');
  assert.deepEqual(dumpAll(prog.typed), before, 'the failed apply was rolled back: the maps are as they were');

  // The fault goes away: the agent's backoff retry applies commit 2, without another job.
  faults.reset();
  await until(async () => agent.status().appliedCommit === commitSha(2) && agent.status().state === 'ready', 'the agent retries on its own');
  assert.deepEqual(applied, ['retry:02'], 'applied once, by the retry');
  assert.equal(probe(prog, 'GET', '/job').dstIp, '10.3.0.2', 'the route moved to its new backend');
  const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
  assert.deepEqual(
    jobs.map((j) => j.id),
    [id],
    'no job was retried or added for the retry',
  );

  // A second wake-up for the same head (a restarted watcher) is the same job id: nothing new runs.
  const fresh = new WakeUps(redis, prefix);
  await fresh.wake(['n1'], head);
  await fresh.close();
  assert.equal((await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'])).filter((j) => j.id === id).length, 1, 'one job for node and seq');
  // A newer wake-up with nothing new to apply (a commit that changes nothing here) writes nothing.
  const head2 = (await writer.append(commitEvents(3, {}))).at(-1)!.seq;
  await wake.wake(['n1'], head2);
  const noop = await until(async () => {
    if ((await queue.getJobState(reconcileJobId('n1', head2))) !== 'completed') return null;
    return (await Job.fromId<unknown, ReconcileJobResult>(queue, reconcileJobId('n1', head2))) ?? null;
  }, 'the no-op wake-up completes');
  assert.deepEqual(
    [noop.returnvalue.ops, noop.returnvalue.appliedSeq, noop.returnvalue.state],
    [0, head2, 'ready'],
    `nothing to write: ${JSON.stringify(noop.returnvalue)}`,
  );
  assert.equal(jobsDone, 2, `onDone after every job (${jobsDone})`);
});
