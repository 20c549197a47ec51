// Read-back: the pinned maps into the planner's AppliedState, equal to the
// planner's own model of what it wrote; corrupt entries read back (not throw)
// so the planner can repair them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPlan } from '../src/dataplane/apply.js';
import { readMaps } from '../src/dataplane/read-back.js';
import { emptyAppliedState, planChanges, simulateApply, appliedStateOf } from '../src/plan/plan.js';
import { routeKeyOf } from '../src/model/ids.js';
import { desired, listener, loadTestProgram, route, VIP } from './fixtures/agent-routes.js';

const want = desired(
  [
    route('GET', '/a', [
      ['10.1.0.1', 8080],
      ['10.1.0.2', 8080, 5],
    ]),
    route('POST', '/b', [['10.1.0.3', 80]]),
    route('OPTIONS', '/', [
      ['10.1.0.4', 80],
      ['10.1.0.5', 80],
    ]),
  ],
  [listener(VIP, 80), listener('10.0.0.101', 443)],
);

test('read-back equals the planner model of the applied ops; replanning is empty', (t) => {
  const prog = loadTestProgram(t, 'readback');
  if (!prog) return;
  const plan = planChanges(emptyAppliedState(), want);
  applyPlan(prog.typed, plan.ops);
  const model = simulateApply(emptyAppliedState(), plan.ops);
  const { contents, stats } = readMaps(prog.typed, { tableValues: true });
  const applied = appliedStateOf(contents);
  assert.deepEqual(stats, { routes: 3, tables: 3, listeners: 2, nexthops: 5, malformedRoutes: 0 });
  assert.deepEqual(applied.routes, model.routes, 'ROUTES read back as written');
  assert.deepEqual(applied.listeners, model.listeners, 'LISTENERS read back as written');
  assert.deepEqual(applied.nexthops, model.nexthops, 'NEXTHOPS read back as written');
  assert.deepEqual([...applied.tables.keys()].sort(), [...model.tables.keys()].sort(), 'MAGLEV_TABLES keys');
  for (const [id, t0] of model.tables) assert.deepEqual(applied.tables.get(id)!.value, t0.value, `table ${id} bytes`);
  const keysOnly = appliedStateOf(readMaps(prog.typed).contents);
  assert.ok(
    [...keysOnly.tables.values()].every((x) => x.value === undefined),
    'without tableValues only keys are read',
  );
  assert.equal(planChanges(applied, want, { verifyTables: true }).ops.length, 0, 'nothing to do against the read-back state');
});

test('a corrupt count and a corrupt table slot read back and get repaired', (t) => {
  const prog = loadTestProgram(t, 'readback-bad');
  if (!prog) return;
  applyPlan(prog.typed, planChanges(emptyAppliedState(), want).ops);
  const key = routeKeyOf('GET', '/a');
  const rawKey = prog.typed.routes.keyCodec.encode(key);
  const value = prog.typed.routes.raw.getRaw(rawKey)!;
  value.writeUInt32LE(200, 256); // count far beyond 32
  prog.typed.routes.raw.setRaw(rawKey, value);
  const bKey = routeKeyOf('POST', '/b');
  const tKey = prog.typed.maglevTables.keyCodec.encode({ route: bKey, gen: 1 });
  const table = prog.typed.maglevTables.raw.getRaw(tKey)!;
  table[7] = 99; // a slot no backend list has
  prog.typed.maglevTables.raw.setRaw(tKey, table);

  const { contents, stats } = readMaps(prog.typed, { tableValues: true });
  const applied = appliedStateOf(contents);
  assert.equal(stats.malformedRoutes, 1, 'the over-long list is counted');
  const plan = planChanges(applied, want, { verifyTables: true });
  const repaired = plan.routes.filter((r) => r.change === 'repaired').map((r) => `${r.method} ${r.reason}`);
  assert.equal(repaired.length, 2, `both corruptions are repaired: ${repaired.join('; ')}`);
  applyPlan(prog.typed, plan.ops);
  assert.equal(
    planChanges(appliedStateOf(readMaps(prog.typed, { tableValues: true }).contents), want, { verifyTables: true }).ops.length,
    0,
    'clean after the repair',
  );
});
