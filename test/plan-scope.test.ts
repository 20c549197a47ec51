// A scoped plan (planChanges with options.scope) against the full plan: for
// random applied and desired states and random scopes that cover every
// difference, the scoped plan is the full plan (same ops in the same order,
// same route reports, same state after simulateApply). Also: a chain of
// scoped plans, each scoped to what changed, keeps the maps at the desired
// state; and a scoped plan never walks the desired routes or the applied maps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DesiredIndex,
  emptyAppliedState,
  listenerKeyId,
  maglevKeyId,
  planChanges,
  routeIdFor,
  routeKeyId,
  simulateApply,
  type AppliedState,
  type DesiredDataplane,
  type Plan,
  type PlanScope,
} from '../src/plan/plan.js';
import { AppliedTables } from '../src/plan/applied-state.js';
import { isHole } from '../src/model/maglev.js';
import type { MapOp } from '../src/model/map-types.js';
import type { HttpMethod, Listener, Route } from '../src/routes/route-model.js';
import { RautaError } from '../src/errors.js';
import { appliedFrom, backendListArb, record, route, type Drift } from './fixtures/plan-drift.js';

const IPS = Array.from({ length: 24 }, (_, i) => `10.0.${i >> 4}.${(i & 15) + 1}`);
const PATHS = Array.from({ length: 10 }, (_, i) => `/svc/${i}`);
const METHODS: HttpMethod[] = ['GET', 'POST', 'DELETE'];
const LISTENERS: Array<[string, number]> = [
  ['192.0.2.1', 80],
  ['192.0.2.1', 443],
  ['192.0.2.2', 80],
];

const backendsArb = backendListArb(IPS, { maxWeight: 9, maxLength: 6 });

function listener([address, port]: [string, number]): Listener {
  return { name: `l${port}`, address, port, source: { file: 'l.yaml', line: 1 } };
}

const desiredArb: fc.Arbitrary<DesiredDataplane & { routes: Route[]; listeners: Listener[] }> = fc
  .record({
    routes: fc.uniqueArray(fc.tuple(fc.constantFrom(...METHODS), fc.constantFrom(...PATHS), backendsArb), { maxLength: 8, selector: ([m, p]) => `${m} ${p}` }),
    listeners: fc.subarray(LISTENERS),
    missingMac: fc.subarray(IPS, { maxLength: 3 }),
    macSeed: fc.integer({ min: 0, max: 2 }),
  })
  .map(({ routes, listeners, missingMac, macSeed }) => ({
    routes: routes.map(([m, p, b]) => route(m, p, b)),
    listeners: listeners.map(listener),
    nexthops: Object.fromEntries(
      IPS.filter((ip) => !missingMac.includes(ip)).map((ip, i) => [ip, `02:00:00:00:${((i + macSeed) & 0xff).toString(16).padStart(2, '0')}:01`]),
    ),
  }));

const driftArb: fc.Arbitrary<Drift> = fc.oneof(
  record({
    kind: fc.constantFrom('dropTable', 'editWeight', 'trailingHole', 'duplicate', 'corruptTable', 'wrongMac', 'dropRoute', 'dropNexthop', 'staleNextGen'),
    pick: fc.nat(),
  }).map((d): Drift => (d.kind === 'editWeight' ? { kind: d.kind, pick: d.pick, weight: d.pick % 5 } : { kind: d.kind, pick: d.pick })),
  record({ kind: fc.constant('orphanTable' as const), pick: fc.nat(), gen: fc.integer({ min: 0, max: 4 }) }),
  record({ kind: fc.constant('strayRoute' as const), path: fc.constantFrom('/stray', '/svc/1') }).map((d) => ({ ...d, ip: IPS[3]! })),
  record({ kind: fc.constantFrom('strayListener' as const, 'strayNexthop' as const) }),
) as fc.Arbitrary<Drift>;

/** What the full plan touches: its route ids (tables included), listener ids and nexthop IPs. */
function differences(plan: Plan): { routes: Set<string>; listeners: Set<string>; nexthops: Set<string> } {
  const out = { routes: new Set<string>(), listeners: new Set<string>(), nexthops: new Set<string>() };
  for (const op of plan.ops) {
    if (op.map === 'routes') out.routes.add(routeKeyId(op.key));
    else if (op.map === 'maglev_tables') out.routes.add(routeKeyId(op.key.route));
    else if (op.map === 'listeners') out.listeners.add(listenerKeyId(op.key));
    else if (op.map === 'nexthops') out.nexthops.add(op.key);
  }
  for (const r of plan.routes) out.routes.add(r.id);
  return out;
}

function snapshot(s: AppliedState): unknown {
  const sorted = <V>(m: Map<string, V>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { routes: sorted(s.routes), tables: sorted(s.tables), listeners: sorted(s.listeners), nexthops: sorted(s.nexthops) };
}

function describe(op: MapOp): string {
  if (op.map === 'routes') return `${op.op} routes ${routeKeyId(op.key)}${op.op === 'set' ? ` gen ${op.value.gen}` : ''}`;
  if (op.map === 'maglev_tables') return `${op.op} table ${maglevKeyId(op.key)}`;
  if (op.map === 'listeners') return `${op.op} listener ${listenerKeyId(op.key)}`;
  if (op.map === 'route_shapes') return `set route_shapes ${JSON.stringify(op.value)}`;
  return `${op.op} nexthop ${op.key}${op.op === 'set' ? ` ${op.value.mac}` : ''}`;
}

/** The index of `desired`, built directly or by updating the index of `from` route by route (as the agent does). */
function indexOf(desired: DesiredDataplane & { routes: Route[] }, from: (DesiredDataplane & { routes: Route[] }) | null): DesiredIndex {
  if (from === null) return DesiredIndex.of(desired.routes);
  const index = DesiredIndex.of(from.routes);
  for (const r of from.routes) index.set(r, undefined);
  for (const r of desired.routes) index.set(r, r);
  return index;
}

test('a scoped plan equals the full plan when its scope covers every difference', () => {
  fc.assert(
    fc.property(
      desiredArb,
      fc.oneof(fc.constant('empty' as const), fc.constant('same' as const), desiredArb),
      fc.array(driftArb, { maxLength: 4 }),
      fc.boolean(),
      fc.boolean(),
      fc.record({
        routes: fc.subarray([...PATHS, '/stray', '/gone'].flatMap((p) => ['GET', 'POST', 'DELETE', 'PUT'].map((m) => `${m} ${p}`))),
        listeners: fc.subarray([...LISTENERS.map(([a, p]) => `${a}:${p}`), '198.51.100.1:8080']),
        nexthops: fc.subarray([...IPS, '10.9.9.9']),
        coverByRoute: fc.boolean(),
      }),
      (desired, start, drifts, verifyTables, incrementalIndex, extra) => {
        const base = start === 'empty' ? null : start === 'same' ? desired : start;
        const state = appliedFrom(base, drifts);
        const full = planChanges(state, desired, { verifyTables });
        const diff = differences(full);
        // The scope: every difference plus random extra names.
        const routes = new Set([...diff.routes, ...extra.routes.map((id) => routeIdFor({ method: id.split(' ')[0] as HttpMethod, path: id.split(' ')[1]! }))]);
        const routeIps = new Set<string>();
        for (const id of routes) {
          for (const b of state.routes.get(id)?.value.backends ?? []) if (!isHole(b)) routeIps.add(b.ip);
          for (const r of desired.routes) if (routeIdFor(r) === id) for (const b of r.backends) routeIps.add(b.ip);
        }
        // A nexthop difference is named directly unless a scoped route uses its IP (then only sometimes).
        const nexthops = new Set([...extra.nexthops, ...[...diff.nexthops].filter((ip) => !routeIps.has(ip) || !extra.coverByRoute)]);
        const scope: PlanScope = {
          routes: [...routes],
          listeners: new Set([...diff.listeners, ...extra.listeners]),
          nexthops,
          index: indexOf(desired, incrementalIndex && base !== null && start !== 'same' ? (base as typeof desired) : null),
        };
        const scoped = planChanges(state, desired, { verifyTables, scope });
        assert.deepEqual(scoped.ops.map(describe), full.ops.map(describe), "the scoped plan writes the full plan's ops in the same order");
        assert.deepEqual(scoped.ops, full.ops, 'same ops, values included');
        assert.deepEqual(scoped.routes, full.routes, 'same route reports');
        const { missingNexthops: scopedMissing, ...scopedSummary } = scoped.summary;
        const { missingNexthops: fullMissing, ...fullSummary } = full.summary;
        assert.deepEqual(scopedSummary, fullSummary, 'same summary (routesUnchanged counts the routes outside the scope too)');
        assert.ok(
          scopedMissing.every((ip) => fullMissing.includes(ip)),
          `missing nexthops of the scope ${scopedMissing} are among the full plan's ${fullMissing}`,
        );
        assert.deepEqual(snapshot(simulateApply(state, scoped.ops)), snapshot(simulateApply(state, full.ops)), 'same state after simulateApply');
      },
    ),
    { numRuns: 500 },
  );
});

test('a chain of changes, each planned with the scope of what changed, stays at the desired state', () => {
  const step = fc.record({ desired: desiredArb, macFlip: fc.subarray(IPS, { maxLength: 2 }) });
  fc.assert(
    fc.property(desiredArb, fc.array(step, { minLength: 1, maxLength: 6 }), (first, steps) => {
      let state = simulateApply(emptyAppliedState(), planChanges(emptyAppliedState(), first).ops);
      const index = DesiredIndex.of(first.routes);
      let prev = first;
      for (const { desired: next0, macFlip } of steps) {
        // The neighbour table moved for some IPs: their MAC changes.
        const nexthops = { ...next0.nexthops };
        for (const ip of macFlip) if (nexthops[ip] !== undefined) nexthops[ip] = '02:ff:ff:ff:ff:ff';
        const next = { ...next0, nexthops };
        // What the agent knows from the events: routes upserted or removed, listeners likewise, MACs that changed.
        const touched = new Map<string, Route>();
        for (const r of prev.routes) touched.set(routeIdFor(r), r);
        for (const r of next.routes) touched.set(routeIdFor(r), r);
        for (const r of prev.routes) index.set(r, undefined);
        for (const r of next.routes) index.set(r, r);
        const listeners = new Set([...prev.listeners, ...next.listeners].map((l) => `${l.address}:${l.port}`));
        const changedMacs = IPS.filter((ip) => prev.nexthops[ip] !== next.nexthops[ip]);
        const plan = planChanges(state, next, { scope: { routes: touched.keys(), listeners, nexthops: changedMacs, index } });
        assert.deepEqual(plan.ops.map(describe), planChanges(state, next).ops.map(describe), 'same ops as the full plan');
        state = simulateApply(state, plan.ops);
        assert.deepEqual(
          planChanges(state, next, { verifyTables: true }).ops.map(describe),
          [],
          'after the scoped plan a full plan (tables verified) finds nothing to do',
        );
        prev = next;
      }
    }),
    { numRuns: 200 },
  );
});

test('a scoped plan reads only its scope: the desired routes are never walked, the applied maps never iterated', () => {
  const desired: DesiredDataplane & { routes: Route[] } = {
    routes: Array.from({ length: 2000 }, (_, i) =>
      route('GET', `/r${i}`, [
        { ip: IPS[i % IPS.length]!, port: 80, weight: 1 },
        { ip: IPS[(i + 1) % IPS.length]!, port: 80, weight: 1 },
      ]),
    ),
    listeners: [listener(LISTENERS[0]!)],
    nexthops: Object.fromEntries(IPS.map((ip, i) => [ip, `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`])),
  };
  const state = simulateApply(emptyAppliedState(), planChanges(emptyAppliedState(), desired).ops);
  const index = DesiredIndex.of(desired.routes);
  // Move route 7 to a new backend and drop route 9.
  const moved = route('GET', '/r7', [{ ip: IPS[20]!, port: 80, weight: 1 }]);
  const routes = desired.routes.map((r, i) => (i === 7 ? moved : r)).filter((_, i) => i !== 9);
  index.set(moved, moved);
  index.set(desired.routes[9]!, undefined);
  const full = planChanges(state, { ...desired, routes });

  let iterations = 0;
  const counting = <M extends Map<string, unknown>>(m: M): M => {
    for (const name of ['keys', 'values', 'entries', 'forEach', Symbol.iterator] as const) {
      const original = (m as unknown as Record<PropertyKey, (...a: unknown[]) => unknown>)[name]!.bind(m);
      Object.defineProperty(m, name, {
        value: (...a: unknown[]) => {
          iterations++;
          return original(...a);
        },
      });
    }
    return m;
  };
  const watched: AppliedState = {
    routes: counting(new Map(state.routes)),
    tables: counting(new AppliedTables(state.tables)),
    listeners: state.listeners,
    nexthops: counting(new Map(state.nexthops)),
    shapes: state.shapes,
  };
  const untouchable = new Proxy([] as Route[], { get: () => assert.fail('the scoped plan read desired.routes') });
  const scoped = planChanges(
    watched,
    { ...desired, routes: untouchable },
    { scope: { routes: [routeIdFor(moved), routeIdFor(desired.routes[9]!)], listeners: [], index } },
  );
  assert.equal(iterations, 0, 'the scoped plan iterated an applied map');
  assert.deepEqual(scoped.ops.map(describe), full.ops.map(describe), 'and it plans what the full plan does');
  assert.equal(scoped.summary.routesUnchanged, 1998, 'routesUnchanged counts the unscoped routes too');
});

test("the index: backend IP use counts, routes replaced and removed, a shared key is the full plan's error", () => {
  const a = route('GET', '/a', [
    { ip: '10.0.0.1', port: 80, weight: 1 },
    { ip: '10.0.0.2', port: 80, weight: 1 },
  ]);
  const b = route('GET', '/b', [{ ip: '10.0.0.2', port: 81, weight: 1 }]);
  const index = DesiredIndex.of([a, b]);
  assert.deepEqual([...index.backendIps()].sort(), ['10.0.0.1', '10.0.0.2']);
  index.set(a, undefined);
  assert.deepEqual([...index.backendIps()], ['10.0.0.2'], '10.0.0.2 is still used by GET /b');
  assert.equal(index.uses('10.0.0.1'), false);
  assert.equal(index.size, 1);
  index.set(b, route('GET', '/b', [{ ip: '10.0.0.3', port: 80, weight: 1 }]));
  assert.deepEqual([...index.backendIps()], ['10.0.0.3'], 'a replaced route gives up its old IPs');
  assert.equal(index.get(routeIdFor(b))?.backends[0]?.ip, '10.0.0.3');

  // The same match twice (a list, not the fold's record): both the full and the scoped plan refuse it.
  const twice = [a, route('GET', '/a', [{ ip: '10.0.0.9', port: 80, weight: 1 }])];
  const desired = { routes: twice, listeners: [], nexthops: {} };
  const check = (e: unknown) => e instanceof RautaError && e.code === 'RAUTA_ERR_ROUTES_INVALID' && /share a ROUTES key through the same match/.test(e.message);
  assert.throws(() => planChanges(emptyAppliedState(), desired), check);
  assert.throws(() => planChanges(emptyAppliedState(), desired, { scope: { routes: [routeIdFor(a)], listeners: [], index: DesiredIndex.of(twice) } }), check);
});
