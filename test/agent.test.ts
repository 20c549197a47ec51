// The node agent over a real file log and real maps: commits apply, a rejected
// commit changes nothing and shows in status with file:line, a failed apply
// rolls back and recovers (directly and through run()'s backoff), drift is
// repaired and counted, a restart from a snapshot replays only the tail, and
// a replan request (no commit) is planned at once, scoped to what it names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { injectFaults } from '../src/dataplane/fault-injection.js';
import { readMaps } from '../src/dataplane/read-back.js';
import { routeKeyOf } from '../src/model/ids.js';
import { planChanges, appliedStateOf } from '../src/plan/plan.js';
import type { RautaProgram } from '../src/dataplane/program.js';
import type { Route } from '../src/routes/route-model.js';
import { commitEvents, commitSha, desired, dumpAll, listener, loadTestProgram, macFor, probe, route, VIP } from './fixtures/agent-routes.js';
import { harness } from './fixtures/agent-harness.js';

const L80 = listener(VIP, 80);
const r1 = route('GET', '/api', [['10.1.0.1', 8080]], 3);
const r2 = route(
  'POST',
  '/orders',
  [
    ['10.1.0.2', 8080],
    ['10.1.0.3', 8080],
  ],
  9,
);
const r1b = route('GET', '/api', [['10.1.0.9', 8081]], 3);
const r3 = route('GET', '/new', [['10.2.0.4', 9000]], 12);

/** The maps hold exactly these routes and listeners (nothing more, tables verified). */
function assertMapsHold(prog: RautaProgram, routes: Route[], msg: string): void {
  const applied = appliedStateOf(readMaps(prog.typed, { tableValues: true }).contents);
  const plan = planChanges(applied, desired(routes, [L80]), { verifyTables: true });
  assert.equal(plan.ops.length, 0, `${msg}: the maps hold the desired state (replan would write ${plan.ops.length} ops: ${JSON.stringify(plan.summary)})`);
}

test('commits apply; a rejected commit changes nothing and shows with file:line; a later commit applies', async (t) => {
  const prog = loadTestProgram(t, 'agent-commits');
  if (!prog) return;
  const h = await harness(t, 'agent-commits');
  await h.append(commitEvents(1, { listeners: [L80], upsert: [r1, r2] }));
  const agent = await h.agent(prog.typed);
  const applied: string[] = [];
  agent.on('applied', (e) => applied.push(`${e.reason}:${e.commit?.slice(-2)}:${e.result.ops}`));
  const rejected: string[] = [];
  agent.on('rejected', (e) => rejected.push(e.commit));

  let s = await agent.start();
  assert.equal(s.state, 'ready', `started ready: ${JSON.stringify(s.lastError)}`);
  assert.equal(s.appliedSeq, 4);
  assert.equal(s.appliedCommit, commitSha(1));
  assert.equal(s.lag, 0);
  assertMapsHold(prog, [r1, r2], 'after start');
  assert.deepEqual(probe(prog, 'GET', '/api'), { outcome: 'routed', dstIp: '10.1.0.1', dstPort: 8080, dstMac: macFor('10.1.0.1') });

  await h.append(commitEvents(2, { upsert: [r1b, r3] }));
  s = await agent.reconcile();
  assert.equal(s.appliedCommit, commitSha(2));
  assert.equal(s.appliedSeq, 7);
  assertMapsHold(prog, [r1b, r2, r3], 'after commit 2');
  assert.equal(probe(prog, 'GET', '/api').dstIp, '10.1.0.9', 'GET /api moved to its new backend');

  const before = dumpAll(prog.typed);
  await h.append(commitEvents(3, {}, [{ file: 'routes/api.yaml', line: 3, col: 5, message: 'backends[0].port: 70000 is above 65535' }]));
  s = await agent.reconcile();
  assert.deepEqual(dumpAll(prog.typed), before, 'a rejected commit writes nothing');
  assert.equal(s.state, 'ready');
  assert.equal(s.appliedCommit, commitSha(2), 'the node stays on the last good commit');
  assert.equal(s.appliedSeq, 8, 'the rejection is folded (nothing to apply for it)');
  assert.deepEqual(s.lastRejected, {
    commit: commitSha(3),
    seq: 8,
    errors: [{ where: 'routes/api.yaml:3:5', file: 'routes/api.yaml', line: 3, col: 5, message: 'backends[0].port: 70000 is above 65535' }],
  });
  assert.deepEqual(rejected, [commitSha(3)]);

  await h.append(commitEvents(4, { remove: [r3] }));
  s = await agent.reconcile();
  assert.equal(s.appliedCommit, commitSha(4), 'a later good commit applies');
  assertMapsHold(prog, [r1b, r2], 'after commit 4');
  assert.equal(probe(prog, 'GET', '/new').outcome, 'HTTP 404', 'the removed route is answered 404');
  assert.deepEqual(applied, ['start:01:9', 'commit:02:8', 'commit:04:3'], 'one transaction per changing commit');
  assert.equal(s.applies, 3);
  assert.ok(
    s.lastPlan && s.lastPlan.ops === 3 && s.lastPlan.summary.routesRemoved === 1 && s.lastPlan.summary.nexthopsDeleted === 1,
    `lastPlan summary: ${JSON.stringify(s.lastPlan)}`,
  );
});

test('a failed apply rolls back, reports failing with the op, and the retry applies once the fault is gone', async (t) => {
  const prog = loadTestProgram(t, 'agent-fail');
  if (!prog) return;
  const h = await harness(t, 'agent-fail');
  await h.append(commitEvents(1, { listeners: [L80], upsert: [r1, r2] }));
  const faults = injectFaults(prog.typed);
  const agent = await h.agent(faults.maps, { retryInitialMs: 20, retryMaxMs: 200 });
  await agent.start();
  const before = dumpAll(prog.typed);

  // the third write of the next plan fails
  faults.reset({ failWrites: [3] });
  await h.append(commitEvents(2, { upsert: [r1b, r3] }));
  let s = await agent.reconcile();
  assert.equal(s.state, 'failing', 'status says failing');
  assert.equal(s.rollbacks, 1);
  assert.equal(s.appliedCommit, commitSha(1), 'stays on the last good commit');
  assert.equal(s.appliedSeq, 4);
  assert.equal(s.desiredSeq, 7, 'the newer commit is folded, waiting to apply');
  assert.equal(s.lag, 3);
  assert.ok(s.lastError?.op, `lastError names the op: ${JSON.stringify(s.lastError)}`);
  assert.equal(s.lastError.code, 'RAUTA_ERR_APPLY_FAILED');
  assert.equal(s.lastError.op.index, 3);
  assert.equal(s.lastError.rolledBack, true);
  assert.equal(s.lastError.errno, 12, 'ENOMEM from the map layer');
  assert.deepEqual(dumpAll(prog.typed), before, 'maps unchanged after the failed reconcile');
  assert.ok(s.nextRetryAt !== null, 'a retry is scheduled');

  faults.reset();
  s = await agent.reconcile();
  assert.equal(s.state, 'ready', `the retry applies: ${JSON.stringify(s.lastError)}`);
  assert.equal(s.appliedCommit, commitSha(2));
  assert.equal(s.lastError, null);
  assertMapsHold(prog, [r1b, r2, r3], 'after the retry');

  // The same through run(): an outage, then recovery on its own by backoff.
  const ac = new AbortController();
  const running = agent.run(ac.signal);
  faults.reset({ failAll: true });
  const rolledBack = once(agent, 'rolledBack');
  const beforeOutage = dumpAll(prog.typed);
  await h.append(commitEvents(3, { remove: [r3] }));
  await rolledBack;
  assert.equal(agent.status().state, 'failing');
  assert.deepEqual(dumpAll(prog.typed), beforeOutage, 'maps unchanged while the outage lasts');
  const recovered = once(agent, 'applied');
  faults.reset();
  const [ev] = await recovered;
  assert.equal(ev.reason, 'retry', 'run() retried by itself');
  s = agent.status();
  assert.equal(s.state, 'ready');
  assert.equal(s.appliedCommit, commitSha(3));
  assert.ok(s.rollbacks >= 2, `rollbacks counted: ${s.rollbacks}`);
  assertMapsHold(prog, [r1b, r2], 'after the outage');
  ac.abort();
  await running;
});

test('a hand-edited ROUTES entry is repaired by checkDrift and counted as one drift', async (t) => {
  const prog = loadTestProgram(t, 'agent-drift');
  if (!prog) return;
  const h = await harness(t, 'agent-drift');
  await h.append(commitEvents(1, { listeners: [L80], upsert: [r1, r2] }));
  const agent = await h.agent(prog.typed);
  await agent.start();
  const drift: number[] = [];
  agent.on('drift', (e) => drift.push(e.repairs));
  assert.deepEqual(await agent.checkDrift(), { repairs: 0, ops: 0, details: [] }, 'no drift right after apply');

  // an operator points POST /orders at another backend by hand
  const key = routeKeyOf('POST', '/orders');
  const value = prog.typed.routes.get(key)!;
  prog.typed.routes.set(key, { ...value, backends: [{ ip: '10.9.9.9', port: 80, weight: 1 }, value.backends[1]!] });
  const report = await agent.checkDrift();
  assert.equal(report.repairs, 1, `one drift: ${report.details.join('; ')}`);
  assert.match(report.details[0]!, /^POST \/orders: changed/);
  assert.deepEqual(drift, [1]);
  const s = agent.status();
  assert.equal(s.driftRepairs, 1);
  assert.equal(s.state, 'ready');
  assertMapsHold(prog, [r1, r2], 'after the repair');

  // an orphan table and a corrupted table byte are drift too
  prog.typed.maglevTables.set({ route: key, gen: 77 }, new Uint8Array(4099));
  const apiKey = routeKeyOf('GET', '/api');
  const gen = prog.typed.routes.get(apiKey)!.gen;
  const rawKey = prog.typed.maglevTables.keyCodec.encode({ route: apiKey, gen });
  const table = prog.typed.maglevTables.raw.getRaw(rawKey)!;
  table[100] = 5;
  prog.typed.maglevTables.raw.setRaw(rawKey, table);
  const second = await agent.checkDrift();
  assert.equal(second.repairs, 2, `orphan + corrupt table: ${second.details.join('; ')}`);
  assert.equal(agent.status().driftRepairs, 3);
  assertMapsHold(prog, [r1, r2], 'after the second repair');
});

test('a restart loads the snapshot and replays only the tail of the log', async (t) => {
  const prog = loadTestProgram(t, 'agent-snap');
  if (!prog) return;
  const h = await harness(t, 'agent-snap');
  const routes: Route[] = [];
  await h.append(commitEvents(1, { listeners: [L80] }));
  for (let c = 2; c <= 41; c++) {
    const batch = [0, 1, 2].map((i) => route('GET', `/c${c}/r${i}`, [[`10.1.${c}.${i + 1}`, 8080]], i + 1));
    routes.push(...batch);
    await h.append(commitEvents(c, { upsert: batch }));
  }
  const first = await h.agent(prog.typed, { snapshotEvery: 50 });
  let s = await first.start();
  assert.equal(s.eventsRead, 162, 'a first start reads the whole log');
  assert.equal(s.appliedSeq, 162);
  await first.stop();
  const snapshotFile = join(h.stateDir, 'desired-state.node-a.json');
  assert.ok(existsSync(snapshotFile), 'stop() wrote a snapshot');

  const tail = [route('GET', '/tail', [['10.2.0.1', 8080]], 1)];
  await h.append(commitEvents(42, { upsert: tail }));
  await h.append(commitEvents(43, { remove: [routes[0]!] }));
  const second = await h.agent(prog.typed, { snapshotEvery: 50 });
  s = await second.start();
  assert.equal(s.eventsRead, 4, `only the 4 events after the snapshot were read (read ${s.eventsRead})`);
  assert.equal(s.appliedSeq, 166);
  assert.equal(s.appliedCommit, commitSha(43));
  assert.equal(
    s.lastPlan?.ops,
    2 + 2 + 2,
    `the restart wrote only the tail's changes (route + table delete, table + route set, one nexthop set and one delete): ${JSON.stringify(s.lastPlan?.summary)}`,
  );
  assertMapsHold(prog, [...routes.slice(1), ...tail], 'after the restart');
});

test('run() checks for drift on its own schedule and repairs it', async (t) => {
  const prog = loadTestProgram(t, 'agent-run-drift');
  if (!prog) return;
  const h = await harness(t, 'agent-run-drift');
  await h.append(commitEvents(1, { listeners: [L80], upsert: [r1, r2] }));
  const agent = await h.agent(prog.typed, { driftIntervalMs: 30 });
  await agent.start();
  const ac = new AbortController();
  const running = agent.run(ac.signal);
  const drift = once(agent, 'drift');
  prog.typed.listeners.delete({ addr: VIP, port: 80 }); // someone deletes the listener by hand
  const [ev] = await drift;
  assert.equal(ev.repairs, 1, `one drift: ${ev.details.join('; ')}`);
  assert.deepEqual(ev.details, ['listeners missing: 1']);
  assert.equal(probe(prog, 'GET', '/api').outcome, 'routed', 'the listener is back');
  // and a commit arriving meanwhile is applied by the same loop
  const applied = once(agent, 'applied');
  await h.append(commitEvents(2, { upsert: [r3] }));
  const [a] = await applied;
  assert.equal(a.commit, commitSha(2));
  ac.abort();
  await running;
  assert.equal(agent.status().driftRepairs, 1);
  assertMapsHold(prog, [r1, r2, r3], 'after run()');
});

test('an incomplete rollback is reported loudly; the next attempt reads the maps back and converges', async (t) => {
  const prog = loadTestProgram(t, 'agent-halfway');
  if (!prog) return;
  const h = await harness(t, 'agent-halfway');
  await h.append(commitEvents(1, { listeners: [L80], upsert: [r1, r2] }));
  const faults = injectFaults(prog.typed);
  const agent = await h.agent(faults.maps);
  await agent.start();
  const rolledBack: boolean[] = [];
  agent.on('rolledBack', (e) => rolledBack.push(e.error.rolledBack));
  faults.reset({ failWrites: [4, 5] }); // op 4 fails, then the inverse of op 3 fails too
  await h.append(commitEvents(2, { upsert: [r1b, r3] }));
  let s = await agent.reconcile();
  assert.equal(s.state, 'failing');
  assert.equal(s.lastError?.rolledBack, false, 'status says the rollback was incomplete');
  assert.match(s.lastError?.message ?? '', /ROLLBACK INCOMPLETE/);
  assert.deepEqual(rolledBack, [false]);
  faults.reset();
  s = await agent.reconcile();
  assert.equal(s.state, 'ready', `recovered: ${JSON.stringify(s.lastError)}`);
  assertMapsHold(prog, [r1b, r2, r3], 'after reading back and replanning');
  assert.deepEqual(await agent.checkDrift(), { repairs: 0, ops: 0, details: [] }, 'the belief matches the maps again');
});

test('requestReplan: run() replans the named routes at once, scoped to them; "everything" plans in full', async (t) => {
  const prog = loadTestProgram(t, 'agent-replan');
  if (!prog) return;
  const h = await harness(t, 'agent-replan');
  await h.append(commitEvents(1, { listeners: [L80], upsert: [r1, r2] }));
  const agent = await h.agent(prog.typed);
  await agent.start();
  const ac = new AbortController();
  const running = agent.run(ac.signal);
  const replanned = once(agent, 'applied');
  agent.requestReplan({ routes: [{ method: 'GET', path: '/api' }] });
  const [scoped] = await replanned;
  assert.equal(scoped.reason, 'replan');
  assert.equal(scoped.plan.ops.length, 0, 'nothing changed for the route: nothing to write');
  assert.equal(scoped.scopeRoutes, 1, 'scoped to the one route');
  const full = once(agent, 'applied');
  agent.requestReplan('everything');
  const [all] = await full;
  assert.equal(all.reason, 'replan');
  assert.equal(all.scopeRoutes, null, 'a full plan');
  // A commit afterwards is scoped again.
  const applied = once(agent, 'applied');
  await h.append(commitEvents(2, { upsert: [r3] }));
  const [a] = await applied;
  assert.equal(a.commit, commitSha(2));
  assert.equal(a.scopeRoutes, 1, 'the commit is scoped to its one route');
  ac.abort();
  await running;
  assert.equal(agent.status().state, 'ready');
  assertMapsHold(prog, [r1, r2, r3], 'after the replans and the commit');
});
