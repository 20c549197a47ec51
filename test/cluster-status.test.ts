// `rauta status` over a real redis-server: rows from the registry as agents
// publish them (NodeRegistry, the agents' own code), lag against the log head,
// stale nodes marked and not counted, exit 0/1/2; the report as a pure function.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { NodeRegistry, type NodeRecord, type NodeView } from '../src/cluster/node-registry.js';
import { buildStatusReport, renderStatusTable } from '../src/cluster/status-report.js';
import { uniqueSuffix } from '../testbed/netns.js';
import { startRedisServer } from '../testbed/redis-server.js';
import { runRauta } from '../testbed/multinode-cluster.js';

const SHA = (c: string) => c.repeat(40);

function record(node: string, over: Partial<NodeRecord> = {}): NodeRecord {
  return {
    node,
    version: '0.1.0',
    host: 'test',
    pid: 1,
    pinDir: `/sys/fs/bpf/${node}`,
    iface: null,
    http: null,
    startedAt: new Date().toISOString(),
    lastSeen: new Date().toISOString(),
    state: 'ready',
    appliedSeq: 10,
    appliedCommit: SHA('a'),
    headSeq: 10,
    lag: 0,
    lastError: null,
    lastApplyAt: new Date().toISOString(),
    lastRejected: null,
    consecutiveFailures: 0,
    jobs: 3,
    ...over,
  };
}

test('status report: lag against the head, stale nodes shown but not counted, failing and behind fail the check', () => {
  const view = (r: NodeRecord, live = true): NodeView => ({ ...r, live });
  const ok = buildStatusReport('x', 10, [view(record('a')), view(record('b'))]);
  assert.deepEqual([ok.exitCode, ok.problems, ok.live, ok.stale], [0, [], 2, 0], JSON.stringify(ok));

  const behind = buildStatusReport('x', 12, [view(record('a')), view(record('b', { appliedSeq: 12 }))]);
  assert.equal(behind.exitCode, 1, 'a live node two events behind the head fails the check');
  assert.deepEqual(behind.problems, ['a is behind: seq 10 of 12 (lag 2)']);

  const failing = buildStatusReport('x', 10, [
    view(record('a', { state: 'failing', consecutiveFailures: 2, lastError: { code: 'RAUTA_ERR_APPLY_FAILED', message: 'map full', at: '' } })),
  ]);
  assert.equal(failing.exitCode, 1, 'a failing node fails the check');
  assert.match(failing.problems[0]!, /a is failing: RAUTA_ERR_APPLY_FAILED: map full/);

  const stale = buildStatusReport('x', 50, [view(record('a', { appliedSeq: 50 })), view(record('gone', { appliedSeq: 3 }), false)]);
  assert.equal(stale.exitCode, 0, 'a stale node far behind is shown, not counted');
  assert.deepEqual([stale.live, stale.stale, stale.nodes[1]!.lag], [1, 1, 47]);
  const table = renderStatusTable(stale);
  assert.match(table, /^gone\s+b{0}a{12}\s+3\s+47\s+STALE \(last: ready\)/m, `the table marks the stale node:\n${table}`);
  assert.match(table, /NODE\s+COMMIT\s+SEQ\s+LAG\s+STATE\s+UNHEALTHY\s+LAST SEEN\s+LAST ERROR/, table);

  const unhealthy = {
    backend: '10.1.0.2:8080',
    check: ':8080/healthz',
    routes: ['api'],
    healthy: false,
    reason: '3 checks failed in a row (last: connection refused)',
    since: '2026-12-01T10:00:00.000Z',
    last: 'connection refused',
    transitions: 1,
  };
  const sick = buildStatusReport('x', 10, [view(record('a', { health: { checks: 4, unhealthy: [unhealthy], failOpen: ['solo'] } })), view(record('b'))]);
  assert.equal(sick.exitCode, 0, 'an unhealthy backend is observed state, not a node out of sync');
  const lines = renderStatusTable(sick);
  assert.match(lines, /^a\s+a{12}\s+10\s+0\s+ready\s+1\/4\s/m, lines);
  assert.match(lines, /^b\s+a{12}\s+10\s+0\s+ready\s+-\s/m, 'a node without checks shows -');
  assert.match(
    lines,
    /^~ a: 10\.1\.0\.2:8080 unhealthy \(:8080\/healthz, routes api\) since 2026-12-01T10:00:00\.000Z: 3 checks failed in a row \(last: connection refused\)$/m,
    lines,
  );
  assert.match(lines, /^~ a: every backend fails in solo: kept whole \(fail open\)$/m, lines);
});

test('rauta status over Redis: one row per registered node, exit 0 / 1 / 2', async (t) => {
  const server = await startRedisServer(t);
  const prefix = `rauta-st-${uniqueSuffix()}`;
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  t.after(() => redis.disconnect());
  const registry = new NodeRegistry(redis, prefix, 60_000);
  const status = async (...extra: string[]) => runRauta(['status', '--redis', server.url, '--prefix', prefix, ...extra]);

  let r = await status();
  assert.equal(r.code, 1, `no nodes: nothing serves the routes, the check fails\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /no nodes registered/);
  assert.match(r.stdout, /! no live node: none is registered/);

  await redis.set(`${prefix}:head`, '10');
  await registry.publish(record('edge-1'));
  await registry.publish(record('edge-2'));
  r = await status('--json');
  assert.equal(r.code, 0, `both on the head\n${r.stdout}${r.stderr}`);
  const report = JSON.parse(r.stdout) as { head: number; nodes: Array<{ node: string; lag: number; state: string; live: boolean }> };
  assert.deepEqual(
    report.nodes.map((n) => [n.node, n.lag, n.state, n.live]),
    [
      ['edge-1', 0, 'ready', true],
      ['edge-2', 0, 'ready', true],
    ],
  );

  // The log moves on; edge-2 follows, edge-1 does not: exit 1, and the table says who.
  await redis.set(`${prefix}:head`, '14');
  await registry.publish(record('edge-2', { appliedSeq: 14, appliedCommit: SHA('b') }));
  r = await status();
  assert.equal(r.code, 1, `edge-1 is behind: exit 1\n${r.stdout}`);
  assert.match(r.stdout, /^edge-1\s+a{12}\s+10\s+4\s+ready \(behind\)/m, r.stdout);
  assert.match(r.stdout, /! edge-1 is behind: seq 10 of 14 \(lag 4\)/, r.stdout);

  // edge-1 stops cleanly: shown as stopped, not live, not counted.
  await registry.markStopped(record('edge-1'));
  r = await status();
  assert.equal(r.code, 0, `the stopped node is not counted\n${r.stdout}`);
  assert.match(r.stdout, /^edge-1\s+.*STALE \(last: stopped\)/m, r.stdout);

  // A live node that fails its apply: exit 1 with the error.
  await registry.publish(
    record('edge-2', {
      appliedSeq: 14,
      state: 'failing',
      consecutiveFailures: 1,
      lastError: { code: 'RAUTA_ERR_APPLY_FAILED', message: 'update routes: E2BIG', at: new Date().toISOString() },
    }),
  );
  r = await status();
  assert.equal(r.code, 1, `a failing node: exit 1\n${r.stdout}`);
  assert.match(r.stdout, /RAUTA_ERR_APPLY_FAILED: update routes: E2BIG/, r.stdout);

  // A heartbeat that expires makes the node stale.
  const short = new NodeRegistry(redis, prefix, 200);
  await short.publish(record('edge-3', { appliedSeq: 1 }));
  await new Promise((res) => setTimeout(res, 400));
  const views = await registry.list();
  assert.deepEqual(
    views.map((v) => [v.node, v.live]),
    [
      ['edge-1', false],
      ['edge-2', true],
      ['edge-3', false],
    ],
    'edge-3 went stale when its heartbeat key expired',
  );
  // The watcher still wakes edge-3 (stale, not stopped: a partition may heal) but not edge-1 (stopped).
  assert.deepEqual(await registry.wakeTargets(600_000), ['edge-2', 'edge-3'], 'wake targets within the forget window');
  assert.deepEqual(await registry.wakeTargets(0), ['edge-2'], 'only live nodes once the window is over');
});

test('rauta status: unreachable Redis, wrong password, and no source are exit 2 with a clear message', async (t) => {
  const server = await startRedisServer(t, { password: 's3cret' });
  let r = await runRauta(['status', '--redis', `redis://:wrong@127.0.0.1:${server.port}`]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /check the password/, r.stderr);
  assert.ok(!r.stderr.includes('wrong'), `the password is not printed: ${r.stderr}`);
  r = await runRauta(['status', '--redis', server.url]);
  assert.equal(r.code, 1, `the right password works (exit 1: no node is live yet)\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /no nodes registered/, r.stdout);
  r = await runRauta(['status'], { RAUTA_REDIS_URL: '' });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /give --redis URL/, r.stderr);
  r = await runRauta(['status', '--http', 'http://127.0.0.1:1']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /cannot read http:\/\/127\.0\.0\.1:1\/status/, r.stderr);
});
