// Multi-node end to end: a real redis-server (AOF on), one `rauta watch` and
// three `rauta agent` processes, each agent running in its own network
// namespace with its own veth pair (XDP attached to its end, which also carries
// its Redis connection) and its own pin directory. One commit reaches all
// three and a probe on each routes to the new backend; an agent stopped during
// two commits catches up when started; `rauta status` shows each node's state;
// commit-to-applied-on-all-three latency over 100 commits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signBody } from '../src/git/webhook.js';
import { needBpf } from '../testbed/bpf-env.js';
import { routeYaml } from '../testbed/git-repo.js';
import { backendIp, Cluster, measureClusterLatency, probe, runRauta, until } from '../testbed/multinode-cluster.js';

test('three agents over Redis: a commit reaches all, a stopped agent catches up, rauta status, latency', async (t) => {
  if (!needBpf(t)) return;
  const cluster = new Cluster({ nodes: 3, netns: true, watcherArgs: ['--http', '127.0.0.1:0', '--webhook-secret', 'hook-secret'] });
  await cluster.start(t);
  for (const n of cluster.nodes) {
    const attached = await n.proc!.waitLine((l) => l.msg === 'XDP attached, with the TC ingress program', `${n.name} XDP attached`);
    assert.equal(attached.mode, 'native', `${n.name}: the veth in its namespace takes the program natively`);
  }

  // 1. One commit reaches all three; a probe on each routes to the new backend with that node's MAC.
  let marks = cluster.marks();
  const c1 = cluster.prepare('routes/new.yaml', routeYaml([{ name: 'new', path: '/mn/new', backends: [`${backendIp(5)}:9090`] }]), 'add /mn/new');
  cluster.publish(c1);
  await cluster.waitApplied(c1, marks);
  for (const n of cluster.nodes) {
    const p = await probe(n.pinDir, 'GET', '/mn/new');
    assert.deepEqual(
      [p.result, p.backend, p.mac],
      ['routed', `${backendIp(5)}:9090`, n.backendMac],
      `${n.name} routes the new route to its backend: ${JSON.stringify(p)}`,
    );
  }

  // The watcher's endpoint: status (log head, runs), health, and the signed webhook.
  const wurl = (await cluster.watcher!.waitLine((l) => l.msg === 'http listening', 'watcher http')).url as string;
  const wst = (await (await fetch(`${wurl}/status`)).json()) as { head: number; runs: number; lastError: string | null };
  assert.ok(wst.head > 0 && wst.runs > 0 && wst.lastError === null, `watcher /status: ${JSON.stringify(wst)}`);
  assert.equal((await fetch(`${wurl}/healthz`)).status, 200, 'watcher /healthz is 200');
  assert.match(await (await fetch(`${wurl}/metrics`)).text(), /^rauta_watcher_log_head [1-9]/m, 'watcher /metrics has the log head');
  const hook = JSON.stringify({ ref: 'refs/heads/main' });
  assert.equal(
    (await fetch(`${wurl}/hooks/git`, { method: 'POST', body: hook, headers: { 'x-hub-signature-256': 'sha256=00' } })).status,
    401,
    'an unsigned hook is refused',
  );
  assert.equal(
    (await fetch(`${wurl}/hooks/git`, { method: 'POST', body: hook, headers: { 'x-hub-signature-256': signBody('hook-secret', hook) } })).status,
    202,
    'a signed hook triggers a run',
  );

  // 2. rauta status: one row per node, all ready on the head, exit 0.
  let st = await until(async () => {
    const s = await cluster.status();
    return s.report.nodes.every((r) => r.commit === c1 && r.lag === 0) ? s : null;
  }, 'status shows every node on c1');
  assert.equal(st.code, 0, `all nodes on the head: exit 0\n${JSON.stringify(st.report, null, 2)}`);
  assert.deepEqual(st.report.nodes.map((r) => r.node).sort(), cluster.nodes.map((n) => n.name).sort(), 'one row per agent');
  for (const r of st.report.nodes) assert.deepEqual([r.state, r.live, r.lastError], ['ready', true, null], `${r.node}: ${JSON.stringify(r)}`);

  // 3. Agent 3 stopped during two commits, then started: it catches up.
  const third = cluster.nodes[2]!;
  assert.equal(await third.proc!.stop('SIGTERM'), 0, `SIGTERM: the agent exits 0\n${third.proc!.tail()}`);
  marks = cluster.marks();
  const c2 = cluster.prepare(
    'routes/down1.yaml',
    routeYaml([{ name: 'down1', path: '/mn/down1', backends: [`${backendIp(6)}:8080`] }]),
    'while node3 is down (1)',
  );
  cluster.publish(c2);
  await cluster.waitApplied(c2, marks, [0, 1]);
  marks = cluster.marks();
  const c3 = cluster.prepare(
    'routes/down2.yaml',
    routeYaml([{ name: 'down2', path: '/mn/down2', backends: [`${backendIp(7)}:8080`] }]),
    'while node3 is down (2)',
  );
  cluster.publish(c3);
  await cluster.waitApplied(c3, marks, [0, 1]);
  let p = await probe(third.pinDir, 'GET', '/mn/down2');
  assert.equal(p.result, 'reply', `node3 is down: its maps do not have the new route yet: ${JSON.stringify(p)}`);
  st = await cluster.status();
  const row3 = st.report.nodes.find((r) => r.node === third.name)!;
  assert.deepEqual([row3.live, row3.state, row3.commit], [false, 'stopped', c1], `the stopped node shows as not live, stopped on c1: ${JSON.stringify(row3)}`);
  assert.equal(st.code, 0, `a stopped node is shown but does not fail the check (the live ones are on the head)\n${JSON.stringify(st.report, null, 2)}`);
  assert.ok(row3.lag >= 2, `the stopped node's lag counts the events it missed: ${JSON.stringify(row3)}`);

  const restarted = cluster.startAgent(2, undefined, ['--http', `${third.addr}:0`]);
  const started = await restarted.waitLine((l) => l.msg === 'agent started', 'node3 started');
  assert.equal(started.appliedCommit, c3, `node3 catches up on start to the last commit: ${JSON.stringify(started)}`);
  for (const path of ['/mn/down1', '/mn/down2']) {
    p = await probe(third.pinDir, 'GET', path);
    assert.equal(p.result, 'routed', `node3 routes ${path} after catching up: ${JSON.stringify(p)}`);
  }
  await restarted.waitLine((l) => l.msg === 'taking reconcile jobs', 'node3 takes jobs again');
  // Its HTTP endpoint: `rauta status --http` reads one node without Redis.
  const url = (await restarted.waitLine((l) => l.msg === 'http listening', 'node3 http')).url as string;
  const one = await runRauta(['status', '--http', url, '--json']);
  assert.equal(one.code, 0, `status --http of a node on the head: exit 0\n${one.stdout}${one.stderr}`);
  const oneRow = (JSON.parse(one.stdout) as { nodes: Array<{ node: string; commit: string; lag: number }> }).nodes;
  assert.deepEqual(
    oneRow.map((r) => [r.node, r.commit, r.lag]),
    [[third.name, c3, 0]],
    one.stdout,
  );

  // 4. Latency: branch moved → applied on all three, 100 commits.
  const lat = await measureClusterLatency(cluster, 100);
  const summary = `commit-to-applied on all ${lat.nodes} nodes over ${lat.commits} commits: p50 ${lat.p50} ms, p95 ${lat.p95} ms, p99 ${lat.p99} ms, max ${lat.max} ms`;
  t.diagnostic(summary);
  console.log(summary);

  // 5. Status after the run: everyone live, ready, on the head.
  const last = cluster.repo.head();
  st = await until(async () => {
    const s = await cluster.status();
    return s.report.nodes.every((r) => r.commit === last && r.lag === 0) ? s : null;
  }, 'status shows every node on the last commit');
  assert.equal(st.code, 0, JSON.stringify(st.report, null, 2));
  assert.equal(st.report.live, 3, 'three live nodes');

  // SIGTERM: watcher and agents exit 0; programs stay attached (maps pinned) on each node.
  assert.equal(await cluster.watcher!.stop('SIGTERM'), 0, `watcher exits 0 on SIGTERM\n${cluster.watcher!.tail()}`);
  for (const n of cluster.nodes) assert.equal(await n.proc!.stop('SIGTERM'), 0, `${n.name} exits 0 on SIGTERM\n${n.proc!.tail()}`);
  p = await probe(cluster.nodes[0]!.pinDir, 'GET', '/mn/base');
  assert.equal(p.result, 'routed', 'traffic is still routed with the agents stopped');
});
