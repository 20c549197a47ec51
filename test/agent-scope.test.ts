// The agent plans each commit scoped to what the commit touched: over a real
// file log and real maps, random commits (backends moved, routes removed and
// re-added, listeners added and removed, a MAC that moves in the neighbour
// table) each write exactly what a full plan against the maps read back just
// before would write, and leave the maps at the desired state. After a failed
// apply, and at start, the agent plans everything; after a drift repair it is
// scoped again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { injectFaults } from '../src/dataplane/fault-injection.js';
import { readMaps } from '../src/dataplane/read-back.js';
import type { MapOp } from '../src/model/map-types.js';
import { planChanges, appliedStateOf } from '../src/plan/plan.js';
import type { Listener, Route } from '../src/routes/route-model.js';
import type { RautaProgram } from '../src/dataplane/program.js';
import type { RautaMaps } from '../src/dataplane/maps.js';
import { commitEvents, listener, loadTestProgram, macFor, route, VIP } from './fixtures/agent-routes.js';
import { harness } from './fixtures/agent-harness.js';
import type { AppliedEvent } from '../src/agent/node-agent.js';

const ROUTES = 120;

/** Deterministic PRNG (mulberry32): the same commits on every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function svc(i: number, variant: number): Route {
  const backends: Array<[string, number]> = [0, 1, 2].map((k) => [`10.3.${i % 4}.${((i * 3 + k * 7 + variant) % 60) + 1}`, 8080]);
  return route('GET', `/svc/${i}`, backends, i + 1);
}

function describe(op: MapOp): string {
  if (op.map === 'routes')
    return `${op.op} routes ${op.key.method}:${op.key.pathHash}${op.op === 'set' ? ` gen ${op.value.gen} ${op.value.backends.map((b) => `${b.ip}:${b.port}/${b.weight}`).join(',')}` : ''}`;
  if (op.map === 'maglev_tables') return `${op.op} table ${op.key.route.method}:${op.key.route.pathHash}:${op.key.gen}`;
  if (op.map === 'listeners') return `${op.op} listener ${op.key.addr}:${op.key.port}`;
  if (op.map === 'route_shapes') return `set route_shapes ${JSON.stringify(op.value)}`;
  return `${op.op} nexthop ${op.key}${op.op === 'set' ? ` ${op.value.mac}` : ''}`;
}

interface World {
  routes: Map<string, Route>;
  listeners: Map<string, Listener>;
  macs: Record<string, string>;
}

/** The full plan from what the maps hold now to `world`: what the agent's scoped plan must equal. */
function fullPlanFromMaps(maps: RautaMaps, world: World): string[] {
  const applied = appliedStateOf(readMaps(maps).contents);
  return planChanges(applied, { routes: [...world.routes.values()], listeners: [...world.listeners.values()], nexthops: world.macs }).ops.map(describe);
}

function assertMapsHold(prog: RautaProgram, world: World, msg: string): void {
  const applied = appliedStateOf(readMaps(prog.typed, { tableValues: true }).contents);
  const plan = planChanges(
    applied,
    { routes: [...world.routes.values()], listeners: [...world.listeners.values()], nexthops: world.macs },
    { verifyTables: true },
  );
  assert.deepEqual(plan.ops.map(describe), [], `${msg}: the maps hold the desired state`);
}

test('each commit is planned scoped to what it touched and writes what a full plan would', async (t) => {
  const prog = loadTestProgram(t, 'agent-scope');
  if (!prog) return;
  const h = await harness(t, 'agent-scope');
  const world: World = { routes: new Map(), listeners: new Map(), macs: {} };
  for (let c = 0; c < 4; c++) for (let d = 1; d <= 61; d++) world.macs[`10.3.${c}.${d}`] = macFor(`10.3.${c}.${d}`);
  const L80 = listener(VIP, 80);
  const L443 = listener(VIP, 443);
  const initial = Array.from({ length: ROUTES }, (_, i) => svc(i, 0));
  for (const r of initial) world.routes.set(`${r.method} ${r.path}`, r);
  world.listeners.set('80', L80);
  let n = 1;
  await h.append(commitEvents(n++, { listeners: [L80], upsert: initial }));
  const faults = injectFaults(prog.typed);
  // The neighbour table as the resolver sees it now (the test moves one MAC below).
  const agent = await h.agent(faults.maps, { nexthops: async () => ({ ...world.macs }) });
  const applied: AppliedEvent[] = [];
  agent.on('applied', (e) => applied.push(e));
  let s = await agent.start();
  assert.equal(s.state, 'ready', `started: ${JSON.stringify(s.lastError)}`);
  assert.equal(s.lastPlan?.scopeRoutes, null, 'start plans every route');

  const random = rng(7);
  const removed: Route[] = [];
  for (let step = 0; step < 40; step++) {
    const upsert: Route[] = [];
    const remove: Route[] = [];
    const listeners: Listener[] = [];
    const removeListeners: Listener[] = [];
    const touched = 1 + Math.floor(random() * 3);
    for (let k = 0; k < touched; k++) {
      const roll = random();
      if (roll < 0.15 && removed.length > 0) {
        const r = removed.pop()!;
        upsert.push(r);
        world.routes.set(`${r.method} ${r.path}`, r);
      } else if (roll < 0.3) {
        const r = [...world.routes.values()][Math.floor(random() * world.routes.size)]!;
        if (upsert.includes(r) || remove.includes(r)) continue;
        remove.push(r);
        removed.push(r);
        world.routes.delete(`${r.method} ${r.path}`);
      } else {
        const i = Math.floor(random() * ROUTES);
        const r = svc(i, 1 + Math.floor(random() * 50));
        if (remove.some((x) => x.path === r.path)) continue;
        upsert.push(r);
        world.routes.set(`${r.method} ${r.path}`, r);
        const at = removed.findIndex((x) => x.path === r.path);
        if (at >= 0) removed.splice(at, 1);
      }
    }
    if (step % 9 === 4) {
      if (world.listeners.has('443')) {
        removeListeners.push(L443);
        world.listeners.delete('443');
      } else {
        listeners.push(L443);
        world.listeners.set('443', L443);
      }
    }
    // The neighbour table moves for an IP that an untouched route uses.
    if (step % 7 === 3) {
      const ip = `10.3.${step % 4}.${(step % 60) + 1}`;
      world.macs[ip] = `02:aa:00:00:${(step & 255).toString(16).padStart(2, '0')}:01`;
    }
    const expected = fullPlanFromMaps(prog.typed, world);
    const before = applied.length;
    await h.append(commitEvents(n++, { upsert, remove, listeners, removeListeners }));
    s = await agent.reconcile();
    assert.equal(s.state, 'ready', `step ${step}: ${JSON.stringify(s.lastError)}`);
    const plans = applied.slice(before);
    assert.equal(plans.length, 1, `step ${step}: one plan per commit`);
    const plan = plans[0]!;
    assert.deepEqual(plan.plan.ops.map(describe), expected, `step ${step}: the scoped plan writes what a full plan from the maps would`);
    // lastPlan is the last plan that wrote something.
    if (expected.length > 0)
      assert.equal(s.lastPlan?.scopeRoutes, upsert.length + remove.length, `step ${step}: scoped to the commit's ${upsert.length + remove.length} route(s)`);
    assert.equal(
      plan.plan.summary.routesUnchanged +
        plan.plan.summary.routesAdded +
        plan.plan.summary.routesChanged +
        plan.plan.summary.routesRepaired +
        plan.plan.summary.routesResynced,
      world.routes.size,
      `step ${step}: the summary counts every desired route`,
    );
    assertMapsHold(prog, world, `step ${step}`);
  }

  // A failed apply: the retry plans everything, then commits are scoped again.
  faults.reset({ failWrites: [2] });
  const lastGood: World = { routes: new Map(world.routes), listeners: new Map(world.listeners), macs: { ...world.macs } };
  const moved = route('GET', '/svc/5', [['10.3.1.61', 8080]], 6); // .61: no svc() route uses it
  const gone = [...world.routes.values()].find((r) => r.path !== '/svc/5')!;
  world.routes.set(`${moved.method} ${moved.path}`, moved);
  world.routes.delete(`${gone.method} ${gone.path}`);
  world.listeners.set('8080', listener(VIP, 8080));
  await h.append(commitEvents(n++, { upsert: [moved], remove: [gone], listeners: [listener(VIP, 8080)] }));
  s = await agent.reconcile();
  assert.equal(s.state, 'failing', 'the injected fault fails the apply');
  faults.reset();
  // While failing, drift is measured against the last good state, not the newer desired one.
  prog.typed.listeners.delete({ addr: VIP, port: 80 }); // by hand
  const repair = await agent.checkDrift();
  assert.equal(repair.repairs, 1, `the hand edit is the only drift from the last good state: ${repair.details.join('; ')}`);
  assertMapsHold(prog, lastGood, 'while failing, the drift repair restores the last good state');
  assert.equal(agent.status().state, 'failing', 'a repair of the last good state does not end the failure');
  s = await agent.reconcile();
  assert.equal(s.state, 'ready', `the retry applies: ${JSON.stringify(s.lastError)}`);
  assert.equal(s.lastPlan?.scopeRoutes, null, 'after a failure the agent plans every route');
  assertMapsHold(prog, world, 'after the retry');

  // Drift repaired by checkDrift, then a scoped commit on top of the repaired maps.
  prog.typed.listeners.delete({ addr: VIP, port: 8080 }); // by hand
  const report = await agent.checkDrift();
  assert.deepEqual(report.details, ['listeners missing: 1'], 'one drift');
  const next = route('GET', '/svc/6', [['10.3.2.61', 8080]], 7);
  world.routes.set(`${next.method} ${next.path}`, next);
  await h.append(commitEvents(n++, { upsert: [next] }));
  s = await agent.reconcile();
  assert.equal(s.lastPlan?.scopeRoutes, 1, 'a commit after the drift repair is scoped again');
  assertMapsHold(prog, world, 'after drift repair and a commit');
});
