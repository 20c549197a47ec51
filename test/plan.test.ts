import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  emptyAppliedState,
  maglevKeyId,
  planChanges,
  routeKeyFor,
  routeKeyId,
  simulateApply,
  type AppliedState,
  type DesiredDataplane,
  type Plan,
} from '../src/plan/plan.js';
import { backendIdentity, buildMaglevTable, isHole, MaglevCache } from '../src/model/maglev.js';
import { PATH_MATCH, type BackendSlot, type MapOp } from '../src/model/map-types.js';
import { shapeOf, ShapeCounts } from '../src/model/route-shapes.js';
import type { Backend, HttpMethod, Listener, Route } from '../src/routes/route-model.js';
import { RautaError } from '../src/errors.js';
import { appliedFrom, backendListArb, record, route, type Drift } from './fixtures/plan-drift.js';

// ---- generators ------------------------------------------------------------

const IPS = Array.from({ length: 40 }, (_, i) => `10.0.${i >> 4}.${(i & 15) + 1}`);
const PATHS = Array.from({ length: 12 }, (_, i) => `/svc/${i}`);
const METHODS: HttpMethod[] = ['GET', 'POST', 'DELETE'];

const backendsArb = backendListArb(IPS, { maxWeight: 20, maxLength: 8 });

const desiredArb: fc.Arbitrary<DesiredDataplane> = fc
  .record({
    routes: fc.uniqueArray(fc.tuple(fc.constantFrom(...METHODS), fc.constantFrom(...PATHS), backendsArb), { maxLength: 10, selector: ([m, p]) => `${m} ${p}` }),
    listeners: fc.uniqueArray(fc.tuple(fc.constantFrom('192.0.2.1', '192.0.2.2'), fc.constantFrom(80, 443)), {
      maxLength: 3,
      selector: ([a, p]) => `${a}:${p}`,
    }),
    missingMac: fc.subarray(IPS, { maxLength: 3 }),
    extraMac: fc.subarray(['10.9.9.9', '10.9.9.8'], {}),
    macSeed: fc.integer({ min: 0, max: 3 }),
  })
  .map(({ routes, listeners, missingMac, extraMac, macSeed }) => ({
    routes: routes.map(([m, p, b]) => route(m, p, b)),
    listeners: listeners.map(([address, port]): Listener => ({ name: `l${port}`, address, port, source: { file: 'l.yaml', line: 1 } })),
    nexthops: Object.fromEntries(
      [...IPS.filter((ip) => !missingMac.includes(ip)), ...extraMac].map((ip, i) => [
        ip,
        `02:00:00:00:${((i + macSeed) & 0xff).toString(16).padStart(2, '0')}:01`,
      ]),
    ),
  }));

const driftArb: fc.Arbitrary<Drift> = fc.oneof(
  record({ kind: fc.constant('dropTable' as const), pick: fc.nat() }),
  record({ kind: fc.constant('orphanTable' as const), pick: fc.nat(), gen: fc.integer({ min: 0, max: 5 }) }),
  record({ kind: fc.constant('strayRoute' as const), path: fc.constantFrom('/stray', '/old') }).map((d) => ({ ...d, ip: '10.7.7.7' })),
  record({ kind: fc.constant('editWeight' as const), pick: fc.nat(), weight: fc.integer({ min: 0, max: 30 }) }),
  record({ kind: fc.constant('trailingHole' as const), pick: fc.nat() }),
  record({ kind: fc.constant('duplicate' as const), pick: fc.nat() }),
  record({ kind: fc.constant('corruptTable' as const), pick: fc.nat() }),
  record({ kind: fc.constant('strayListener' as const) }),
  record({ kind: fc.constant('wrongMac' as const), pick: fc.nat() }),
  record({ kind: fc.constant('dropRoute' as const), pick: fc.nat() }),
);

// ---- invariants --------------------------------------------------------------

/** Run ops one by one against the model and check the ordering rules at every step. */
function checkOrdering(applied: AppliedState, plan: Plan, desired: DesiredDataplane): AppliedState {
  const wanted = new Set((desired.routes as Route[]).map((r) => routeKeyId(routeKeyFor(r))));
  const ops = plan.ops;
  const isRouteOp = (op: MapOp) => op.map === 'routes' || op.map === 'maglev_tables';
  const firstRouteOp = ops.findIndex(isRouteOp);
  const lastRouteSet = ops.reduce((last, op, i) => (op.map === 'routes' ? i : last), -1);
  ops.forEach((op, i) => {
    if ((op.map === 'listeners' || op.map === 'nexthops') && op.op === 'set' && firstRouteOp >= 0) {
      assert.ok(i < firstRouteOp, `op ${i}: ${op.map} set after the first route op (${firstRouteOp})`);
    }
    if ((op.map === 'listeners' || op.map === 'nexthops') && op.op === 'delete') {
      assert.ok(i > lastRouteSet, `op ${i}: ${op.map} delete before the last ROUTES op (${lastRouteSet})`);
    }
  });
  let state = applied;
  for (const [i, op] of ops.entries()) {
    if (op.map === 'routes' && op.op === 'set') {
      const tid = maglevKeyId({ route: op.key, gen: op.value.gen });
      assert.ok(state.tables.get(tid)?.value, `op ${i}: ROUTES set to gen ${op.value.gen} before its table ${tid} is written`);
      for (const b of op.value.backends) {
        if (!isHole(b)) assert.ok(op.value.backends.length <= 32, 'at most 32 slots');
      }
    }
    if (op.map === 'maglev_tables' && op.op === 'delete') {
      const rid = routeKeyId(op.key.route);
      const r = state.routes.get(rid);
      assert.ok(!r || r.value.gen !== op.key.gen, `op ${i}: table ${maglevKeyId(op.key)} deleted while ROUTES still points at it`);
    }
    state = simulateApply(state, [op]);
    // every desired route in ROUTES is findable: ROUTE_SHAPES has its kind of key
    for (const r of state.routes.values()) {
      if (!wanted.has(routeKeyId(r.key))) continue; // a stray key on its way out may be hidden
      const s = state.shapes[r.key.hostMatch]!;
      const kind = r.key.pathMatch === PATH_MATCH.EXACT ? s.exact : true; // a prefix's depth is not in its key
      assert.ok(
        kind && (s.methods & (r.key.method === 0 ? 2 : 1)) !== 0,
        `op ${i}: route ${routeKeyId(r.key)} is in ROUTES but ROUTE_SHAPES hides it: ${JSON.stringify(state.shapes)}`,
      );
    }
  }
  return state;
}

/**
 * The final state is exactly the desired one. Every table the plan wrote (and,
 * with verifyTables, every table) equals a fresh build over its route's slots.
 */
function checkReached(state: AppliedState, desired: DesiredDataplane, plan: Plan, verifyTables: boolean): void {
  const written = new Set(plan.ops.flatMap((op) => (op.map === 'maglev_tables' && op.op === 'set' ? [maglevKeyId(op.key)] : [])));
  const routes = desired.routes as Route[];
  assert.equal(state.routes.size, routes.length, 'ROUTES must hold exactly the desired routes');
  const usedIps = new Set<string>();
  for (const r of routes) {
    const key = routeKeyFor(r);
    const a = state.routes.get(routeKeyId(key));
    assert.ok(a, `route ${r.method} ${r.path} missing`);
    const live = a.value.backends.filter((b) => !isHole(b));
    assert.deepEqual(
      live.map((b) => `${backendIdentity(b)}/${b.weight}`).sort(),
      r.backends.map((b) => `${backendIdentity(b)}/${b.weight}`).sort(),
      `route ${r.method} ${r.path}: live backends differ from desired`,
    );
    assert.ok(a.value.backends.length === 0 || !isHole(a.value.backends.at(-1)!), 'count must be highest used index + 1');
    const tableId = maglevKeyId({ route: key, gen: a.value.gen });
    const t = state.tables.get(tableId);
    assert.ok(t, `route ${r.method} ${r.path}: no table for gen ${a.value.gen}`);
    if (written.has(tableId) || verifyTables) {
      assert.ok(t.value, `table ${tableId} has no bytes`);
      assert.deepEqual(
        t.value,
        buildMaglevTable(a.value.backends, 4099),
        `route ${r.method} ${r.path}: table for gen ${a.value.gen} is not the Maglev table of its slots`,
      );
    }
    for (const b of r.backends) usedIps.add(b.ip);
  }
  assert.equal(state.tables.size, routes.length, 'exactly one table per route (no orphans, no old gens)');
  assert.deepEqual([...state.listeners.keys()].sort(), (desired.listeners as Listener[]).map((l) => `${l.address}:${l.port}`).sort(), 'listeners differ');
  const wantNexthops = [...usedIps].filter((ip) => desired.nexthops[ip] !== undefined).sort();
  assert.deepEqual([...state.nexthops.keys()].sort(), wantNexthops, 'nexthops must be the used backend IPs that have a MAC');
  for (const ip of wantNexthops) assert.equal(state.nexthops.get(ip)!.mac, desired.nexthops[ip], `nexthop ${ip} MAC`);
  const shapes = new ShapeCounts();
  for (const r of routes) shapes.add(shapeOf(routeKeyFor(r), r.path), 1);
  assert.deepEqual(state.shapes, shapes.shapes(), 'ROUTE_SHAPES holds exactly the kinds of key the routes have');
}

// ---- properties -------------------------------------------------------------------

test('plan then apply reaches desired, and planning again is empty (fixpoint), from drifted states', () => {
  fc.assert(
    fc.property(
      desiredArb,
      fc.oneof(fc.constant('empty' as const), fc.constant('same' as const), desiredArb),
      fc.array(driftArb, { maxLength: 4 }),
      fc.boolean(),
      fc.boolean(),
      (desired, start, drifts, verifyTables, fullResync) => {
        const applied = appliedFrom(start === 'empty' ? null : start === 'same' ? desired : start, drifts);
        const plan = planChanges(applied, desired, { verifyTables, fullResync });
        const reached = checkOrdering(applied, plan, desired);
        checkReached(reached, desired, plan, verifyTables);
        const again = planChanges(reached, desired, { verifyTables });
        assert.deepEqual(again.ops.map(describe), [], 'a second plan after applying the first must be empty');
        assert.equal(plan.summary.ops, plan.ops.length);
        assert.equal(
          plan.routes.reduce((n, r) => n + r.ops, 0) +
            plan.summary.listenersSet +
            plan.summary.listenersDeleted +
            plan.summary.nexthopsSet +
            plan.summary.nexthopsDeleted +
            plan.summary.orphanTablesDeleted +
            plan.summary.shapesSet,
          plan.ops.length,
          'every op is accounted for',
        );
        if (start === 'same' && drifts.length === 0 && !fullResync) assert.equal(plan.ops.length, 0, 'an undrifted state plans nothing');
      },
    ),
    { numRuns: 400 },
  );
});

test('drift is repaired and reported: hand-edited lists, missing or corrupt tables', () => {
  const desired = {
    routes: [
      route('GET', '/a', [
        { ip: '10.0.0.1', port: 80, weight: 1 },
        { ip: '10.0.0.2', port: 80, weight: 1 },
      ]),
    ],
    listeners: [],
    nexthops: {},
  };
  const base = simulateApply(emptyAppliedState(), planChanges(emptyAppliedState(), desired).ops);
  const r = [...base.routes.values()][0];
  const tid = maglevKeyId({ route: r!.key, gen: 1 });

  const dup = simulateApply(base, [{ map: 'routes', op: 'set', key: r!.key, value: { gen: 1, backends: [...r!.value.backends, r!.value.backends[0]!] } }]);
  const p1 = planChanges(dup, desired);
  assert.equal(p1.routes[0]?.change, 'repaired', 'a duplicated backend is drift');
  assert.match(p1.routes[0]?.reason ?? '', /appears twice/);

  const noTable = { ...base, tables: new Map() };
  const p2 = planChanges(noTable, desired);
  assert.equal(p2.routes[0]?.change, 'repaired');
  assert.deepEqual(p2.ops.map(describe), ['set maglev_tables gen 2', 'set routes gen 2'], 'a missing table: new gen and flip, nothing to delete');

  const bad = new Uint8Array(base.tables.get(tid)!.value!);
  bad[0] = bad[0] === 0 ? 1 : 0;
  const corrupt = { ...base, tables: new Map([[tid, { key: base.tables.get(tid)!.key, value: bad }]]) };
  assert.equal(planChanges(corrupt, desired).ops.length, 0, 'without verifyTables the bytes are not compared');
  const p3 = planChanges(corrupt, desired, { verifyTables: true });
  assert.equal(p3.routes[0]?.change, 'repaired');
  assert.deepEqual(p3.ops.map(describe), ['set maglev_tables gen 2', 'set routes gen 2', 'delete maglev_tables gen 1']);
});

test('stable slots: survivors keep their index, holes are reused lowest first, tables never point at holes', () => {
  const backend = fc.constantFrom(...IPS.slice(0, 36));
  fc.assert(
    fc.property(fc.array(fc.uniqueArray(backend, { minLength: 1, maxLength: 32 }), { minLength: 1, maxLength: 8 }), (steps) => {
      let state = emptyAppliedState();
      let previous: BackendSlot[] = [];
      for (const ips of steps) {
        const desired = {
          routes: [
            route(
              'GET',
              '/s',
              ips.map((ip) => ({ ip, port: 80, weight: 1 })),
            ),
          ],
          listeners: [],
          nexthops: {},
        };
        state = simulateApply(state, planChanges(state, desired).ops);
        const now = [...state.routes.values()][0]!.value.backends;
        const keep = new Set(ips);
        const holesBefore = previous.map((b, i) => (isHole(b) || !keep.has(b.ip) ? i : -1)).filter((i) => i >= 0);
        previous.forEach((b, i) => {
          if (!isHole(b) && keep.has(b.ip)) assert.equal(now[i]?.ip, b.ip, `survivor ${b.ip} moved from index ${i}`);
        });
        const added = ips.filter((ip) => !previous.some((b) => b.ip === ip));
        const expectedIndexes = [...holesBefore, ...Array.from({ length: 40 }, (_, k) => previous.length + k)].slice(0, added.length);
        added.forEach((ip, k) => {
          assert.equal(
            now.findIndex((b) => b.ip === ip),
            expectedIndexes[k],
            `new backend ${ip} should take the lowest free index`,
          );
        });
        assert.ok(now.length <= 32 && !isHole(now.at(-1)!), `count ${now.length} must be highest used index + 1`);
        const gen = [...state.routes.values()][0]!.value.gen;
        const table = [...state.tables.values()].find((t) => t.key.gen === gen)!.value!;
        for (const slot of table) assert.ok(!isHole(now[slot]!), `table points at hole ${slot}`);
        previous = now;
      }
    }),
    { numRuns: 150 },
  );
});

test('a new route writes its table, then ROUTES; a removed one deletes ROUTES, then its tables', () => {
  const desired = {
    routes: [route('GET', '/a', [{ ip: '10.0.0.1', port: 80, weight: 1 }])],
    listeners: [{ name: 'web', address: '192.0.2.1', port: 80, source: { file: 'l.yaml', line: 1 } }],
    nexthops: { '10.0.0.1': '02:00:00:00:00:01' },
  };
  const add = planChanges(emptyAppliedState(), desired);
  assert.deepEqual(add.ops.map(describe), ['set route_shapes', 'set listeners', 'set nexthops', 'set maglev_tables gen 1', 'set routes gen 1']);
  assert.deepEqual({ change: add.routes[0]?.change, disruption: add.routes[0]?.disruption }, { change: 'added', disruption: 0 });
  const state = simulateApply(emptyAppliedState(), add.ops);
  const remove = planChanges(state, { routes: [], listeners: [], nexthops: {} });
  assert.deepEqual(remove.ops.map(describe), ['delete routes', 'delete maglev_tables gen 1', 'delete listeners', 'delete nexthops', 'set route_shapes']);
  assert.deepEqual(
    { change: remove.routes[0]?.change, method: remove.routes[0]?.method, disruption: remove.routes[0]?.disruption },
    { change: 'removed', method: 'GET', disruption: 1 },
  );
});

test('new routes that share a frozen backend list share the names in their reports; each report names its own backends', () => {
  const shared = Object.freeze([Object.freeze({ ip: '10.0.0.1', port: 80, weight: 1 }), Object.freeze({ ip: '10.0.0.2', port: 80, weight: 1 })]);
  const own = [{ ip: '10.0.0.3', port: 80, weight: 1 }];
  const routes = [route('GET', '/a', shared as Backend[]), route('GET', '/b', shared as Backend[]), route('GET', '/c', own)];
  const plan = planChanges(emptyAppliedState(), { routes, listeners: [], nexthops: {} });
  const added = (path: string) => plan.routes.find((r) => r.rule === `GET ${path}`)!.backendsAdded;
  assert.deepEqual([added('/a'), added('/b'), added('/c')], [['10.0.0.1:80', '10.0.0.2:80'], ['10.0.0.1:80', '10.0.0.2:80'], ['10.0.0.3:80']]);
  assert.equal(added('/a'), added('/b'), 'one array of names for the shared list');
  assert.ok(Object.isFrozen(added('/a')), 'a shared array of names cannot be changed by one report reader');
});

test('invalid desired routes are errors that say where', () => {
  const b = [{ ip: '10.0.0.1', port: 80, weight: 1 }];
  assert.throws(
    () => planChanges(emptyAppliedState(), { routes: [route('GET', '/a', b), route('GET', '/a', b)], listeners: [], nexthops: {} }),
    (e: unknown) => e instanceof RautaError && e.code === 'RAUTA_ERR_ROUTES_INVALID' && /routes\/r\.yaml:1/.test(e.message),
  );
  assert.throws(
    () => planChanges(emptyAppliedState(), { routes: [route('GET', '/a', [...b, ...b])], listeners: [], nexthops: {} }),
    /lists backend 10\.0\.0\.1:80 twice/,
  );
});

// ---- scale -----------------------------------------------------------------------

/** n routes over `pools` backend pools of 8, deep-frozen like the fold's (immer) output. */
function bigDesired(n: number, pools: number): DesiredDataplane {
  const poolBackends = Array.from({ length: pools }, (_, p) =>
    Array.from({ length: 8 }, (_, i) => ({ ip: `10.${p >> 8}.${p & 255}.${i + 1}`, port: 8080, weight: 1 + (i % 3) })),
  );
  // Each route gets its own copy of its pool, as routes parsed from files do.
  const routes = Array.from({ length: n }, (_, i) =>
    deepFreeze(
      route(
        METHODS[i % 3]!,
        `/api/v1/service-${i}`,
        poolBackends[i % pools]!.map((b) => ({ ...b })),
      ),
    ),
  );
  const nexthops: Record<string, string> = {};
  for (const pool of poolBackends) for (const b of pool) nexthops[b.ip] = '02:00:00:00:00:01';
  return { routes, listeners: [{ name: 'web', address: '192.0.2.1', port: 80, source: { file: 'l.yaml', line: 1 } }], nexthops };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

test('new routes: each distinct table is built once, though building starts before writeRoutes, and equals a direct build', () => {
  // 300 routes over 100 pools, 40 of them already applied: 260 new routes (those start building early) and 40 unchanged.
  const desired = bigDesired(300, 100);
  const some = { ...desired, routes: (desired.routes as Route[]).slice(0, 40) };
  const state = simulateApply(emptyAppliedState(), planChanges(emptyAppliedState(), some).ops);
  const cache = new MaglevCache();
  const plan = planChanges(state, desired, { cache });
  assert.equal(plan.summary.routesAdded, 260);
  assert.equal(cache.builds, 100, 'one build per pool: the early builds are found again by writeRoutes, not repeated');
  const slotsOf = new Map<string, BackendSlot[]>();
  for (const op of plan.ops) if (op.map === 'routes' && op.op === 'set') slotsOf.set(routeKeyId(op.key), op.value.backends);
  for (const op of plan.ops) {
    if (op.map !== 'maglev_tables' || op.op !== 'set') continue;
    const slots = slotsOf.get(routeKeyId(op.key.route))!;
    assert.ok(Buffer.from(op.value).equals(Buffer.from(buildMaglevTable(slots))), 'a table differs from buildMaglevTable of its route');
  }
});

test('one backend of one route changes in a 1,024-route state: ops only for that route', () => {
  const desired = bigDesired(1024, 64);
  const initial = planChanges(emptyAppliedState(), desired);
  const state = simulateApply(emptyAppliedState(), initial.ops);
  const noop = planChanges(state, desired);
  assert.equal(noop.ops.length, 0, 'an unchanged state plans nothing');

  const routes = (desired.routes as Route[]).slice();
  const target = routes[517]!;
  routes[517] = { ...target, backends: target.backends.map((b, i) => (i === 3 ? { ...b, ip: '10.200.0.1' } : b)) };
  const changed = { ...desired, nexthops: { ...desired.nexthops, '10.200.0.1': '02:00:00:00:00:02' } };
  changed.routes = routes;
  const one = planChanges(state, changed);
  const full = planChanges(state, changed, { fullResync: true });
  assert.equal(full.summary.routesResynced, 1023, 'a full resync rewrites every other route as well');
  const targetId = routeKeyId(routeKeyFor(target));
  const routeOps = one.ops.filter((op) => op.map === 'routes' || op.map === 'maglev_tables');
  assert.ok(
    routeOps.every((op) => routeKeyId(op.map === 'routes' ? op.key : op.key.route) === targetId),
    'every route op must touch only the changed route',
  );
  assert.deepEqual(one.ops.map(describe), ['set nexthops', 'set maglev_tables gen 2', 'set routes gen 2', 'delete maglev_tables gen 1']);
  assert.equal(one.routes.length, 1);
  const rp = one.routes[0]!;
  assert.deepEqual([rp.backendsAdded, rp.backendsRemoved], [['10.200.0.1:8080'], [`${target.backends[3]!.ip}:8080`]]);
  assert.ok(rp.disruption > 0 && rp.disruption < 0.3, `replacing 1 of 8 backends should move about its share of slots, moved ${rp.disruption}`);
  // the replacement takes the removed backend's index
  const after = simulateApply(state, one.ops).routes.get(targetId)!.value.backends;
  assert.equal(after[3]?.ip, '10.200.0.1', 'the new backend reuses the freed index 3');
});

function describe(op: MapOp): string {
  if (op.map === 'maglev_tables') return `${op.op} maglev_tables gen ${op.key.gen}`;
  if (op.map === 'routes' && op.op === 'set') return `set routes gen ${op.value.gen}`;
  return `${op.op} ${op.map}`;
}

test('a drained backend (weight 0) keeps its index and slot-free; its return restores the table it had', () => {
  const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];
  const all = ips.map((ip) => ({ ip, port: 80, weight: 1 }));
  const desired = (backends: Backend[]): DesiredDataplane => ({
    routes: [route('GET', '/a', backends)],
    listeners: [],
    nexthops: Object.fromEntries(ips.map((ip) => [ip, '02:00:00:00:00:01'])),
  });
  const s1 = simulateApply(emptyAppliedState(), planChanges(emptyAppliedState(), desired(all)).ops);
  const [r1] = [...s1.routes.values()];
  const t1 = s1.tables.get(maglevKeyId({ route: r1!.key, gen: r1!.value.gen }))!.value!;

  const drained = all.map((b, i) => (i === 1 ? { ...b, weight: 0 } : b));
  const drain = planChanges(s1, desired(drained));
  assert.deepEqual(
    drain.ops.map(describe),
    ['set maglev_tables gen 2', 'set routes gen 2', 'delete maglev_tables gen 1'],
    'a drain is one route change: 3 writes, the nexthop stays',
  );
  const s2 = simulateApply(s1, drain.ops);
  const [r2] = [...s2.routes.values()];
  assert.deepEqual(
    r2!.value.backends.map((b) => `${b.ip}/${b.weight}`),
    ['10.0.0.1/1', '10.0.0.2/0', '10.0.0.3/1', '10.0.0.4/1'],
    'the drained backend keeps index 1 with weight 0',
  );
  const t2 = s2.tables.get(maglevKeyId({ route: r2!.key, gen: 2 }))!.value!;
  assert.ok(!t2.includes(1), 'no slot points at the drained backend');
  const moved = t2.filter((v, i) => v !== t1[i]).length / t2.length;
  assert.equal(drain.routes[0]!.disruption, moved, 'the plan reports the share of slots that moved');
  assert.ok(moved >= 0.2 && moved < 0.3, `draining 1 of 4 moves about its share: ${moved}`);
  assert.equal(planChanges(s2, desired(drained)).ops.length, 0, 'a drained list is well-formed: no drift repair');

  const back = planChanges(s2, desired(all));
  assert.deepEqual(back.ops.map(describe), ['set maglev_tables gen 3', 'set routes gen 3', 'delete maglev_tables gen 2']);
  const s3 = simulateApply(s2, back.ops);
  const t3 = s3.tables.get(maglevKeyId({ route: r1!.key, gen: 3 }))!.value!;
  assert.deepEqual(t3, t1, 'the table after the return is the one before the drain');
});

test("draining one backend moves 1/N + 2 pp of a route's connections or fewer, on average over pools", () => {
  for (const n of [4, 8, 16]) {
    const moved: number[] = [];
    for (let pool = 0; pool < 8; pool++) {
      const all = Array.from({ length: n }, (_, i) => ({ ip: `10.${pool + 1}.0.${i + 1}`, port: 8080, weight: 1 }));
      const desired = (backends: Backend[]): DesiredDataplane => ({ routes: [route('GET', '/p', backends)], listeners: [], nexthops: {} });
      const state = simulateApply(emptyAppliedState(), planChanges(emptyAppliedState(), desired(all)).ops);
      for (let d = 0; d < 4; d++) moved.push(planChanges(state, desired(all.map((b, i) => (i === d ? { ...b, weight: 0 } : b)))).routes[0]!.disruption);
    }
    const mean = moved.reduce((a, b) => a + b, 0) / moved.length;
    assert.ok(
      moved.every((m) => m >= 1 / n - 0.01),
      `a drained backend's own slots must move (n=${n}): ${Math.min(...moved)}`,
    );
    assert.ok(mean <= 1 / n + 0.02, `mean share moved by a drain, ${n} backends: ${mean.toFixed(4)} > ${(1 / n + 0.02).toFixed(4)}`);
  }
});
