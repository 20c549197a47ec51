// All-or-nothing apply against the real maps: a fault at EVERY write of a
// multi-operation plan leaves every map byte-identical and names the op; a
// failed inverse is reported loudly; the same plan without the fault routes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants as osConstants } from 'node:os';
import { applyPlan, ApplyError } from '../src/dataplane/apply.js';
import { injectFaults } from '../src/dataplane/fault-injection.js';
import { readMaps } from '../src/dataplane/read-back.js';
import { planChanges, type DesiredDataplane, appliedStateOf } from '../src/plan/plan.js';
import { describeKey } from '../src/dataplane/apply.js';
import { desired, dumpAll, listener, loadTestProgram, macFor, probe, route, VIP } from './fixtures/agent-routes.js';

const before: DesiredDataplane = desired(
  [
    route('GET', '/a', [
      ['10.1.0.1', 8080],
      ['10.1.0.2', 8080],
    ]),
    route('GET', '/b', [['10.1.0.3', 8080]]),
    route('POST', '/c', [
      ['10.1.0.1', 8080],
      ['10.1.0.4', 9090, 3],
      ['10.1.0.5', 8080],
    ]),
    route('GET', '/d', [['10.1.0.6', 8080]]),
    route('DELETE', '/e', [['10.1.0.7', 8080]]),
  ],
  [listener(VIP, 80), listener(VIP, 8443)],
);

// several routes added, changed and removed, a listener added and one removed, nexthops added and removed
const after: DesiredDataplane = desired(
  [
    route('GET', '/a', [
      ['10.1.0.1', 8080],
      ['10.1.0.8', 8080],
    ]),
    route('GET', '/b', [['10.1.0.3', 8080]]),
    route('POST', '/c', [
      ['10.1.0.1', 8080],
      ['10.1.0.4', 9090, 1],
      ['10.1.0.5', 8080],
    ]),
    route('GET', '/new', [['10.2.0.9', 8081]]),
    route('PUT', '/new2', [
      ['10.2.0.10', 8082],
      ['10.1.0.3', 8080],
    ]),
  ],
  [listener(VIP, 80), listener(VIP, 8080)],
);

test('a fault at every write of a plan rolls back to byte-identical maps and names the op', (t) => {
  const prog = loadTestProgram(t, 'apply-k');
  if (!prog) return;
  applyPlan(prog.typed, planChanges(appliedStateOf(readMaps(prog.typed).contents), before).ops);
  const plan = planChanges(appliedStateOf(readMaps(prog.typed).contents), after);
  const ops = plan.ops;
  const n = ops.length;
  const kinds = new Set(ops.map((o) => `${o.map}:${o.op}`));
  for (const k of [
    'routes:set',
    'routes:delete',
    'maglev_tables:set',
    'maglev_tables:delete',
    'listeners:set',
    'listeners:delete',
    'nexthops:set',
    'nexthops:delete',
  ]) {
    assert.ok(kinds.has(k), `the plan exercises ${k} (has ${[...kinds].join(', ')})`);
  }
  const faults = injectFaults(prog.typed);
  const snapshot = dumpAll(prog.typed);
  for (let k = 1; k <= n; k++) {
    faults.reset({ failWrites: [k] });
    let caught: unknown;
    try {
      applyPlan(faults.maps, ops);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ApplyError, `write ${k} of ${n} failing makes apply throw ApplyError, got ${String(caught)}`);
    const e = caught;
    const op = ops[k - 1]!;
    assert.equal(e.code, 'RAUTA_ERR_APPLY_FAILED');
    assert.deepEqual(e.failedOp, { index: k, count: n, map: op.map, op: op.op, key: describeKey(op.map, op.key) }, `the error names op ${k} of ${n}`);
    assert.match(e.message, new RegExp(`op ${k} of ${n} \\(${op.op} ${op.map} `), 'the message names the op');
    assert.equal(e.errno, osConstants.errno.ENOMEM, 'the errno of the failing write is kept');
    assert.ok((e.cause as Error).message.includes('injected fault'), 'the cause is the map layer error');
    assert.equal(e.rolledBack, true, `write ${k}: every inverse ran`);
    assert.equal(e.inversesRun, k - 1, `write ${k}: ${k - 1} earlier ops were undone`);
    assert.equal(faults.writes, k + (k - 1), `write ${k}: the k-th write failed, then k-1 inverse writes ran`);
    assert.deepEqual(dumpAll(prog.typed), snapshot, `after a fault at write ${k} of ${n} (${op.op} ${op.map}) every map reads back byte-identical`);
  }
  t.diagnostic(`plan of ${n} ops: fault injected at each of the ${n} writes, all rolled back byte-identically`);

  // Without the fault the same plan applies and routes.
  faults.reset();
  const res = applyPlan(faults.maps, ops);
  assert.equal(res.ops, n);
  assert.equal(
    planChanges(appliedStateOf(readMaps(prog.typed, { tableValues: true }).contents), after, { verifyTables: true }).ops.length,
    0,
    'the maps hold the desired state',
  );
  const p = probe(prog, 'GET', '/new');
  assert.deepEqual(p, { outcome: 'routed', dstIp: '10.2.0.9', dstPort: 8081, dstMac: macFor('10.2.0.9') }, 'GET /new routes to its one backend');
  const a = probe(prog, 'GET', '/a');
  assert.equal(a.outcome, 'routed');
  assert.ok(['10.1.0.1', '10.1.0.8'].includes(a.dstIp), `GET /a goes to one of its desired backends, got ${a.dstIp}`);
  assert.equal(probe(prog, 'GET', '/d').outcome, 'HTTP 404', 'the removed route no longer routes: 404');
  assert.equal(probe(prog, 'GET', '/new', { dstPort: 8443 }).outcome, 'PASS', 'the removed listener no longer answers: its packets go to the kernel');
  assert.equal(probe(prog, 'GET', '/new', { dstPort: 8080 }).outcome, 'routed', 'the added listener answers');
});

test('a failed inverse is reported loudly; reading back and replanning converges', (t) => {
  const prog = loadTestProgram(t, 'apply-inv');
  if (!prog) return;
  applyPlan(prog.typed, planChanges(appliedStateOf(readMaps(prog.typed).contents), before).ops);
  const ops = planChanges(appliedStateOf(readMaps(prog.typed).contents), after).ops;
  const faults = injectFaults(prog.typed, { failWrites: [4, 5], errno: osConstants.errno.EIO });
  let caught: unknown;
  try {
    applyPlan(faults.maps, ops);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ApplyError, 'apply throws');
  assert.equal(caught.rolledBack, false, 'the rollback is known to be incomplete');
  assert.equal(caught.rollbackFailures.length, 1, 'one inverse failed');
  assert.equal(caught.rollbackFailures[0]!.index, 3, 'the inverse of op 3 (the first to be undone) failed');
  assert.equal(caught.rollbackFailures[0]!.errno, osConstants.errno.EIO);
  assert.match(caught.message, /ROLLBACK INCOMPLETE/, 'the message says so loudly');
  // The node may be half-changed: read back, replan, apply.
  faults.reset();
  const replan = planChanges(appliedStateOf(readMaps(prog.typed).contents), after);
  applyPlan(faults.maps, replan.ops);
  assert.equal(
    planChanges(appliedStateOf(readMaps(prog.typed, { tableValues: true }).contents), after, { verifyTables: true }).ops.length,
    0,
    'converged after replanning',
  );
});

test('an op that does not fit the layout fails before any map is touched', (t) => {
  const prog = loadTestProgram(t, 'apply-enc');
  if (!prog) return;
  applyPlan(prog.typed, planChanges(appliedStateOf(readMaps(prog.typed).contents), before).ops);
  const snapshot = dumpAll(prog.typed);
  const ops = planChanges(appliedStateOf(readMaps(prog.typed).contents), after).ops;
  const bad = [...ops, { map: 'nexthops' as const, op: 'set' as const, key: '10.300.0.1', value: { mac: '02:00:00:00:00:01' } }];
  assert.throws(
    () => applyPlan(prog.typed, bad),
    (err: unknown) => err instanceof ApplyError && err.failedOp.index === bad.length && err.inversesRun === 0,
  );
  assert.deepEqual(dumpAll(prog.typed), snapshot, 'nothing was written');
});
