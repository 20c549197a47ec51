// Measurement (printed, never asserted on time): map operations, bytes written
// and apply time of a one-backend change in a 1,024-route state versus a full
// resync, both applied to the same real maps in the same run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPlan } from '../src/dataplane/apply.js';
import { readApplied } from '../src/dataplane/read-back.js';
import { emptyAppliedState, planChanges, simulateApply } from '../src/plan/plan.js';
import type { Route } from '../src/routes/route-model.js';
import { desired, listener, loadTestProgram, route, VIP } from './fixtures/agent-routes.js';

const ROUTES = 1024;

function routesWith(changed: number | null): Route[] {
  return Array.from({ length: ROUTES }, (_, i) => {
    // a pool of 512 backends (NEXTHOPS holds 4,096), 4 per route
    const backends: Array<[string, number]> = [0, 1, 2, 3].map((k) => [`10.3.${i % 8}.${(((i >> 3) * 4 + k) % 64) + 1}`, 8080]);
    if (i === changed) backends[2] = ['10.3.63.254', 8080]; // one backend of one route replaced
    return route('GET', `/svc/${i}`, backends, i + 1);
  });
}

test('one-backend change vs full resync at 1,024 routes: ops, bytes, apply time', (t) => {
  const prog = loadTestProgram(t, 'measure');
  if (!prog) return;
  const base = desired(routesWith(null), [listener(VIP, 80)]);
  let t0 = performance.now();
  const initial = planChanges(emptyAppliedState(), base);
  const initialPlanMs = performance.now() - t0;
  const first = applyPlan(prog.typed, initial.ops);
  let belief = simulateApply(emptyAppliedState(), initial.ops);

  const changedState = desired(routesWith(511), [listener(VIP, 80)]);
  t0 = performance.now();
  const small = planChanges(belief, changedState);
  const smallPlanMs = performance.now() - t0;
  const smallRes = applyPlan(prog.typed, small.ops);
  belief = simulateApply(belief, small.ops);
  assert.equal(small.summary.routesChanged, 1, 'one route changed');
  assert.equal(small.summary.routesUnchanged, ROUTES - 1);

  t0 = performance.now();
  const full = planChanges(belief, changedState, { fullResync: true });
  const fullPlanMs = performance.now() - t0;
  const fullRes = applyPlan(prog.typed, full.ops);
  assert.equal(full.summary.routesResynced, ROUTES, 'a full resync rewrites every route');
  assert.equal(planChanges(readApplied(prog.typed, { tableValues: true }).applied, changedState, { verifyTables: true }).ops.length, 0, 'both leave the desired state');

  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const lines = [
    `initial sync of ${ROUTES} routes: ${first.ops} ops, ${first.bytesWritten} bytes, plan ${ms(initialPlanMs)}, apply ${ms(first.durationMs)}`,
    `one-backend change: ${smallRes.ops} ops (${smallRes.sets} sets, ${smallRes.deletes} deletes), ${smallRes.bytesWritten} bytes, plan ${ms(smallPlanMs)}, apply ${ms(smallRes.durationMs)}, disruption ${(small.routes[0]!.disruption * 100).toFixed(1)}% of that route's slots`,
    `full resync: ${fullRes.ops} ops (${fullRes.sets} sets, ${fullRes.deletes} deletes), ${fullRes.bytesWritten} bytes, plan ${ms(fullPlanMs)}, apply ${ms(fullRes.durationMs)}`,
    `ratio: ${(fullRes.ops / smallRes.ops).toFixed(0)}x ops, ${(fullRes.bytesWritten / smallRes.bytesWritten).toFixed(0)}x bytes`,
  ];
  for (const l of lines) t.diagnostic(`measure: ${l}`);
  assert.ok(smallRes.ops < 10, `a one-backend change is a handful of ops, got ${smallRes.ops}`);
});
