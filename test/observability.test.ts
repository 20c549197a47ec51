// The node's HTTP endpoint over a real agent, a real file log and real maps:
// /metrics names every series (agent counters, log position, the per-CPU XDP
// counters summed), /healthz is 200 when the node is on the newest good commit
// and 503 with the error while an apply fails; a rejected commit shows with
// file:line:col without failing the health check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { injectFaults } from '../src/dataplane/fault-injection.js';
import { routeKeyOf } from '../src/model/ids.js';
import { METRIC_NAMES } from '../src/model/metrics.js';
import { agentHealth } from '../src/observability/health.js';
import { parseListen, startHttpServer } from '../src/observability/http-server.js';
import { createNodeMetrics } from '../src/observability/metrics.js';
import { commitEvents, commitSha, listener, loadTestProgram, probe, route, VIP } from './fixtures/agent-routes.js';
import { harness } from './fixtures/agent-harness.js';

const L80 = listener(VIP, 80);
const r1 = route('GET', '/api', [['10.1.0.1', 8080]], 3);
const r2 = route('GET', '/new', [['10.2.0.4', 9000]], 12);

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

/** The value of one exposition line `name{labels} value`, or null when the series is absent. */
function series(text: string, name: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? null : Number(line.slice(name.length + 1));
}

test('/metrics names the series, /healthz is 200 when ready and 503 with the error when failing', async (t) => {
  const prog = loadTestProgram(t, 'obs');
  if (!prog) return;
  const h = await harness(t, 'obs');
  await h.append(commitEvents(1, { listeners: [L80], upsert: [r1] }));
  const faults = injectFaults(prog.typed);
  // A long backoff: this test drives every retry itself through reconcile().
  const agent = await h.agent(faults.maps, { retryInitialMs: 600_000, retryMaxMs: 600_000 });
  const metrics = createNodeMetrics({ agent, readXdpCounters: () => prog.typed.readMetrics() });
  const server = await startHttpServer({ listen: '127.0.0.1:0', metrics, health: () => agentHealth(agent.status()), status: () => agent.status() });
  t.after(() => server.close());

  const starting = await get(`${server.url}/healthz`);
  assert.equal(starting.status, 503, `before start the agent is not ready: ${starting.text}`);

  await agent.start();
  assert.equal(probe(prog, 'GET', '/api').outcome, 'routed', 'the route applied on start routes');
  let health = await get(`${server.url}/healthz`);
  assert.equal(health.status, 200, `ready: ${health.text}`);
  assert.equal(JSON.parse(health.text).appliedCommit, commitSha(1));

  let m = (await get(`${server.url}/metrics`)).text;
  const expect = (name: string, value: number) => assert.equal(series(m, name), value, `${name} should be ${value}; exposition:\n${m}`);
  expect('rauta_reconciles_total{reason="start",result="applied"}', 1);
  expect('rauta_reconcile_duration_seconds_count{reason="start"}', 1);
  expect('rauta_applied_seq', 3);
  expect(`rauta_applied_commit_info{commit="${commitSha(1)}"}`, 1);
  expect('rauta_lag_events', 0);
  expect('rauta_log_head_seq', 3);
  expect('rauta_drift_repairs_total', 0);
  expect('rauta_rejected_commits_total', 0);
  expect('rauta_agent_state{state="ready"}', 1);
  for (const slot of METRIC_NAMES) {
    assert.notEqual(series(m, `rauta_xdp_packets_total{counter="${slot.toLowerCase()}"}`), null, `one series per METRICS slot: ${slot} missing`);
  }
  assert.ok(series(m, 'rauta_xdp_packets_total{counter="routed"}')! >= 1, 'the probe counts as routed (summed over CPUs)');
  assert.match(m, /# TYPE rauta_rollbacks_total counter/);

  // Every write fails: the commit is rolled back, the node stays on commit 1 and reports failing.
  faults.reset({ failAll: true });
  await h.append(commitEvents(2, { upsert: [r2] }));
  await agent.reconcile();
  health = await get(`${server.url}/healthz`);
  assert.equal(health.status, 503, `failing: ${health.text}`);
  const body = JSON.parse(health.text) as { status: string; error: string; appliedCommit: string; lag: number };
  assert.equal(body.status, 'failing');
  assert.match(body.error, /injected fault/, 'the body carries the apply error');
  assert.equal(body.appliedCommit, commitSha(1), 'still on the last good commit');
  m = (await get(`${server.url}/metrics`)).text;
  expect('rauta_rollbacks_total{complete="true"}', 1);
  expect('rauta_reconciles_total{reason="commit",result="rolled_back"}', 1);
  expect('rauta_lag_events', 2);
  expect('rauta_agent_state{state="failing"}', 1);

  // The fault clears: the retry applies commit 2 and the node is healthy again.
  faults.reset({});
  await agent.reconcile();
  health = await get(`${server.url}/healthz`);
  assert.equal(health.status, 200, `recovered: ${health.text}`);
  m = (await get(`${server.url}/metrics`)).text;
  expect(`rauta_applied_commit_info{commit="${commitSha(2)}"}`, 1);
  expect('rauta_lag_events', 0);

  // A hand-edited map is repaired and counted.
  prog.typed.routes.delete(routeKeyOf('GET', '/api'));
  await agent.checkDrift();
  m = (await get(`${server.url}/metrics`)).text;
  assert.ok(series(m, 'rauta_drift_repairs_total')! >= 1, `drift repairs counted:\n${m}`);

  // A rejected commit: still healthy (the node rightly stays put), and the body names file:line:col.
  await h.append(commitEvents(3, {}, [{ file: 'routes/api.yaml', line: 7, col: 15, message: 'port 70000 is above 65535' }]));
  await agent.reconcile();
  health = await get(`${server.url}/healthz`);
  assert.equal(health.status, 200, `a rejected commit is not ill health: ${health.text}`);
  const rejected = JSON.parse(health.text).lastRejected as { commit: string; errors: Array<{ where: string }> };
  assert.equal(rejected.commit, commitSha(3));
  assert.equal(rejected.errors[0]?.where, 'routes/api.yaml:7:15');
  m = (await get(`${server.url}/metrics`)).text;
  expect('rauta_rejected_commits_total', 1);

  const status = await get(`${server.url}/status`);
  assert.equal(JSON.parse(status.text).appliedCommit, commitSha(2));
  assert.equal((await get(`${server.url}/nope`)).status, 404);
});

test('extra handlers (the webhook) are tried first; --http parsing', async (t) => {
  const agent = { status: () => ({ state: 'ready' }) as never, on: () => undefined };
  const metrics = createNodeMetrics({ agent });
  let hooks = 0;
  const server = await startHttpServer({
    listen: '127.0.0.1:0',
    metrics,
    health: () => ({ ok: true, body: {} }),
    handlers: [
      async (req, res) => {
        if (req.url !== '/hooks/git') return false;
        hooks++;
        res.writeHead(202).end();
        return true;
      },
    ],
  });
  t.after(() => server.close());
  const res = await fetch(`${server.url}/hooks/git`, { method: 'POST', body: '{}' });
  assert.equal(res.status, 202);
  assert.equal(hooks, 1);
  assert.equal((await get(`${server.url}/healthz`)).status, 200);
  assert.deepEqual(parseListen('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListen(':9464'), { host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.throws(() => parseListen('9464'), /ADDRESS:PORT/);
  assert.throws(() => parseListen('127.0.0.1:70000'), /ADDRESS:PORT/);
});
