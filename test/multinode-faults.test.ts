// Multi-node faults against a real redis-server with AOF on (fsync always):
// Redis SIGKILLed and restarted while a commit lands (three agents, each in its
// own network namespace reaching Redis over its veth; agents and watcher
// reconnect and catch up; no event lost or applied twice), a node cut off from
// the network (stale, its wake-ups wait, it catches up when the link is back),
// the watcher SIGKILLed (a new one takes over the lock), an agent SIGKILLed in the middle of a job (the job is taken again and
// writes nothing: applying is idempotent), and a bad Redis URL or password (a
// clear error at start, nothing loaded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { reconcileQueueName } from '../src/cluster/cluster-keys.js';
import type { ReconcileJobResult } from '../src/cluster/reconcile-queue.js';
import { openEventLog } from '../src/events/event-log.js';
import { needBpf } from '../testbed/bpf-env.js';
import { routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';
import { backendIp, Cluster, probe, runRauta, until, type RautaProc } from '../testbed/multinode-cluster.js';
import { ip, uniqueSuffix } from '../testbed/netns.js';
import { startRedisServer } from '../testbed/redis-server.js';
import { isCommitMarker } from '../src/routes/route-events.js';

function appliedCount(proc: RautaProc, sha: string): number {
  return proc.lines.filter((l) => l.msg === 'applied' && l.commit === sha).length;
}

test('Redis SIGKILLed and restarted: watcher and agents reconnect and catch up, no event lost or applied twice', async (t) => {
  if (!needBpf(t)) return;
  const cluster = new Cluster({ nodes: 3, netns: true });
  const c0 = await cluster.start(t);
  let marks = cluster.marks();
  const c1 = cluster.prepare('routes/one.yaml', routeYaml([{ name: 'one', path: '/f/one', backends: [`${backendIp(3)}:8080`] }]), 'one');
  cluster.publish(c1);
  await cluster.waitApplied(c1, marks);

  // Redis dies; a commit lands while it is down; the watcher's run fails (and says so).
  await cluster.redis.kill();
  const wmark = cluster.watcher!.lines.length;
  marks = cluster.marks();
  const c2 = cluster.prepare('routes/two.yaml', routeYaml([{ name: 'two', path: '/f/two', backends: [`${backendIp(4)}:8080`] }]), 'two, while Redis is down');
  cluster.publish(c2);
  await cluster.watcher!.waitLine((l) => l.msg.startsWith('watcher run failed'), 'the watcher notices Redis is gone', wmark);
  await cluster.redis.restart();

  // Everyone reconnects; the commit made during the outage reaches every node.
  await cluster.waitApplied(c2, marks);
  marks = cluster.marks();
  const c3 = cluster.prepare(
    'routes/three.yaml',
    routeYaml([{ name: 'three', path: '/f/three', backends: [`${backendIp(5)}:8080`] }]),
    'three, after the restart',
  );
  cluster.publish(c3);
  await cluster.waitApplied(c3, marks);
  for (const n of cluster.nodes) {
    for (const path of ['/f/one', '/f/two', '/f/three']) {
      const p = await probe(n.pinDir, 'GET', path);
      assert.equal(p.result, 'routed', `${n.name} routes ${path}: ${JSON.stringify(p)}`);
    }
  }

  // The log: gap-free (read() checks every seq), each commit recorded exactly once, in order.
  const log = await openEventLog(cluster.redis.url, { prefix: cluster.prefix });
  try {
    const events = await log.read(1, 100_000);
    assert.equal(events.length, await log.head(), 'every seq from 1 to the head is there');
    const markers = events.filter(isCommitMarker).map((e) => e.commit);
    assert.deepEqual(markers, [c0, c1, c2, c3], 'each commit once, in order: none lost, none recorded twice');
  } finally {
    await log.close();
  }
  // Each node applied each commit exactly once.
  for (const n of cluster.nodes) {
    for (const sha of [c0, c1, c2, c3]) assert.equal(appliedCount(n.proc!, sha), 1, `${n.name} applied ${sha.slice(0, 12)} once\n${n.proc!.tail(40)}`);
  }
  const st = await until(async () => {
    const s = await cluster.status();
    return s.report.live === 3 && s.code === 0 ? s : null;
  }, 'status: three live nodes on the head');
  assert.ok(
    st.report.nodes.every((r) => r.commit === c3),
    JSON.stringify(st.report, null, 2),
  );
});

test('a node cut off from the network: it goes stale, its wake-ups wait in its queue, it catches up when the link is back', async (t) => {
  if (!needBpf(t)) return;
  const cluster = new Cluster({ nodes: 3, netns: true });
  await cluster.start(t);
  const cut = cluster.nodes[1]!;
  const proc = cut.proc!;
  ip('link', 'set', cut.uplink!, 'down');
  t.after(() => {
    try {
      ip('link', 'set', cut.uplink!, 'up');
    } catch {
      /* the namespace is gone already */
    }
  });
  await until(async () => {
    const s = await cluster.status();
    return s.report.nodes.find((r) => r.node === cut.name)?.live === false ? s : null;
  }, `${cut.name} goes stale once its heartbeat expires`);

  const marks = cluster.marks();
  const c1 = cluster.prepare('routes/cut.yaml', routeYaml([{ name: 'cut', path: '/f/cut', backends: [`${backendIp(8)}:8080`] }]), 'while node2 is cut off');
  cluster.publish(c1);
  await cluster.waitApplied(c1, marks, [0, 2]);
  const st = await cluster.status();
  assert.equal(st.code, 0, `the cut-off node is stale, not counted; the others are on the head\n${JSON.stringify(st.report, null, 2)}`);
  const redis = new Redis(cluster.redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue(reconcileQueueName(cut.name), { connection: redis, prefix: `${cluster.prefix}:bull` });
  t.after(async () => {
    await queue.close();
    redis.disconnect();
  });
  assert.ok((await queue.getWaitingCount()) + (await queue.getActiveCount()) >= 1, 'the wake-up for the stale node waits in its queue');

  ip('link', 'set', cut.uplink!, 'up');
  await cluster.waitApplied(c1, marks, [1]);
  assert.ok(proc.running, 'the same agent process caught up (no restart)');
  const p = await probe(cut.pinDir, 'GET', '/f/cut');
  assert.equal(p.result, 'routed', `${cut.name} routes the commit made while it was cut off: ${JSON.stringify(p)}`);
  await until(async () => {
    const s = await cluster.status();
    return s.code === 0 && s.report.live === 3 ? s : null;
  }, 'all three live and on the head again');
});

test('the watcher SIGKILLed: a restarted one waits for the dead lock, takes over, and records each commit once', async (t) => {
  if (!needBpf(t)) return;
  const cluster = new Cluster({ nodes: 2 });
  const c0 = await cluster.start(t);
  const dead = cluster.watcher!;
  dead.child.kill('SIGKILL');
  await dead.exited;
  const marks = cluster.marks();
  const c1 = cluster.prepare('routes/w.yaml', routeYaml([{ name: 'w', path: '/f/w', backends: [`${backendIp(9)}:8080`] }]), 'while no watcher runs');
  cluster.publish(c1);
  const next = cluster.startWatcher();
  await next.waitLine((l) => l.msg.startsWith('another watcher holds the event log writer lock'), 'the new watcher waits as a standby');
  await next.waitLine((l) => l.msg.startsWith('event log writer lock taken'), 'the dead lock expires and the new watcher takes it');
  await cluster.waitApplied(c1, marks);
  const log = await openEventLog(cluster.redis.url, { prefix: cluster.prefix });
  try {
    const events = await log.read(1, 100_000);
    const markers = events.filter(isCommitMarker).map((e) => e.commit);
    assert.deepEqual(markers, [c0, c1], 'each commit once');
  } finally {
    await log.close();
  }
  // A second watcher on the same log is a standby; SIGTERM stops it cleanly.
  const standby = cluster.startWatcher();
  await standby.waitLine((l) => l.msg.startsWith('another watcher holds the event log writer lock'), 'a second watcher is a standby');
  assert.equal(await standby.stop('SIGTERM'), 0, `a standby exits 0 on SIGTERM\n${standby.tail()}`);
});

test('an agent SIGKILLed mid-job: the job is taken again and writes nothing (idempotent)', async (t) => {
  if (!needBpf(t)) return;
  const cluster = new Cluster({ nodes: 2, jobLock: 1 });
  await cluster.start(t);
  const victim = cluster.nodes[0]!;
  assert.equal(await victim.proc!.stop('SIGTERM'), 0, victim.proc!.tail());
  // Fault injection: this agent holds each job before reconciling, so the kill lands inside one.
  const held = cluster.startAgent(0, { RAUTA_FAULT_JOB_HOLD_MS: '600000' });
  await held.waitLine((l) => l.msg === 'taking reconcile jobs', 'held agent taking jobs');

  const marks = cluster.marks();
  const c1 = cluster.prepare(
    'routes/kill.yaml',
    routeYaml([{ name: 'kill', path: '/f/kill', backends: [`${backendIp(6)}:8080`] }]),
    'lands while the agent is killed',
  );
  cluster.publish(c1);
  const started = await held.waitLine((l) => l.msg.startsWith('job started (fault injection'), 'the job starts', marks[0]);
  const jobId = started.job as string;
  held.child.kill('SIGKILL');
  await held.exited;
  await cluster.waitApplied(c1, marks, [1]);

  const redis = new Redis(cluster.redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue(reconcileQueueName(victim.name), { connection: redis, prefix: `${cluster.prefix}:bull` });
  t.after(async () => {
    await queue.close();
    redis.disconnect();
  });
  const job = await Job.fromId<unknown, ReconcileJobResult>(queue, jobId);
  assert.ok(job, `job ${jobId} exists`);
  assert.equal(await job.getState(), 'active', 'the killed agent left its job active (locked)');
  assert.equal(appliedCount(held, c1), 0, 'the killed agent had not applied the commit');

  // Restart: it catches up from the log on start; the orphaned job is then taken again, and finds nothing to do.
  const back = cluster.startAgent(0);
  const up = await back.waitLine((l) => l.msg === 'agent started', 'restarted agent');
  assert.equal(up.appliedCommit, c1, `the restart applies the commit from the log: ${JSON.stringify(up)}`);
  // The state first, then the job: a job read before the state check can be a snapshot taken
  // while it was still active (no return value yet) that completes before getState() runs.
  const done = await until(async () => {
    if ((await queue.getJobState(jobId)) !== 'completed') return null;
    return (await Job.fromId<unknown, ReconcileJobResult>(queue, jobId)) ?? null;
  }, `job ${jobId} completed after the kill`);
  assert.ok(
    done.stalledCounter >= 1 || (done.attemptsStarted ?? 0) >= 2,
    `the job was taken again after the kill: stalled ${done.stalledCounter}, started ${done.attemptsStarted}`,
  );
  assert.equal(done.returnvalue.ops, 0, `the job taken again wrote nothing: the maps already held the commit (${JSON.stringify(done.returnvalue)})`);
  assert.equal(done.returnvalue.appliedCommit, c1);
  assert.equal(appliedCount(back, c1), 1, `the commit was applied once, at start\n${back.tail(30)}`);
  const p = await probe(victim.pinDir, 'GET', '/f/kill');
  assert.deepEqual([p.result, p.backend], ['routed', `${backendIp(6)}:8080`], JSON.stringify(p));
});

test('rauta agent / rauta watch: a bad Redis URL or password is a clear error at start, with nothing loaded', async (t) => {
  const server = await startRedisServer(t, { password: 'right-one' });
  const tmp = tempDir('mn-bad');
  t.after(() => tmp.cleanup());
  const repo = TestRepo.init(`${tmp.dir}/repo`);
  repo.write('routes/README', 'x\n');
  repo.commit('first');
  const pinDir = `/sys/fs/bpf/rauta-mn-bad-${process.pid}-${uniqueSuffix()}`;
  const agent = (redis: string, ...extra: string[]) =>
    runRauta(['agent', '--redis', redis, '--node', 'n1', '--pin-dir', pinDir, '--state-dir', `${tmp.dir}/state`, ...extra]);
  const watch = (redis: string) => runRauta(['watch', '--redis', redis, '--repo', repo.dir, '--root', 'routes', '--prefix', `bad-${uniqueSuffix()}`]);
  const wrong = `redis://:nope@127.0.0.1:${server.port}`;
  const closed = 'redis://127.0.0.1:1';
  const cases: Array<[string, () => ReturnType<typeof runRauta>, RegExp]> = [
    ['agent, wrong password', () => agent(wrong), /cannot connect: .*(WRONGPASS|invalid).*check the password in the URL/],
    ['agent, nobody listening', () => agent(closed), /redis:\/\/127\.0\.0\.1:1 .*cannot connect.*check that Redis is running/],
    ['agent, not a redis URL', () => agent('http://127.0.0.1:6379'), /use a redis:\/\/ or rediss:\/\/ URL/],
    ['agent, a node name with a colon', () => agent(server.url, '--node', 'a:b'), /--node "a:b": use 1-63 letters/],
    ['watch, wrong password', () => watch(wrong), /cannot connect: .*check the password in the URL/],
    ['watch, nobody listening', () => watch(closed), /cannot connect.*check that Redis is running/],
  ];
  for (const [what, run, message] of cases) {
    const r = await run();
    assert.equal(r.code, 2, `${what}: exit 2\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, message, `${what}: the message says what to check`);
    assert.ok(!r.stderr.includes('nope'), `${what}: the password is not printed: ${r.stderr}`);
  }
  assert.ok(!existsSync(pinDir), 'nothing was loaded or pinned by the failed starts');
});
