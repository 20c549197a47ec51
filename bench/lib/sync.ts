// Synthetic route sets and the helpers the sync suites share (full-sync, scale,
// minimality): a real program in its own pin dir, plan + apply timing, and the
// raw-write floor (the same encoded entries written with one bpf() update each,
// no planning and no transaction) that a sync is compared against.
import { rmSync } from 'node:fs';
import { applyPlan, type ApplyResult } from '../../src/dataplane/apply.js';
import { MaglevCache } from '../../src/model/maglev.js';
import type { MapName, MapOp } from '../../src/model/map-types.js';
import type { RautaMaps, TypedMap } from '../../src/dataplane/maps.js';
import { loadRauta, unpin, type RautaProgram } from '../../src/dataplane/program.js';
import { forgetFlow, probeConnection } from '../../src/dataplane/connection-probe.js';
import { readMaps } from '../../src/dataplane/read-back.js';
import { applyOpsInPlace, planChanges, type AppliedState, type DesiredDataplane, type PlanOptions, appliedStateOf } from '../../src/plan/plan.js';
import type { Backend, Listener, Route } from '../../src/routes/route-model.js';

export const VIP = '10.0.0.100';

export interface RouteSetSpec {
  routes: number;
  backendsPerRoute: number;
  /**
   * Distinct backend sets: 'distinct' gives every route its own set (one Maglev
   * build per route, the worst case); a number N gives N pools shared by the
   * routes in turn (a service with many routes shares its pool).
   */
  pools: 'distinct' | number;
  /** backend IPs to draw from (each gets a nexthop) */
  ipPool?: number;
}

/** Routes as the fold hands them to the planner: deep-frozen by immer (the Maglev cache keys frozen lists by identity). */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function ipOf(n: number): string {
  return `10.${64 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;
}

function macOf(n: number): string {
  return `02:00:${[(n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}

/** Route i's backends: `backendsPerRoute` consecutive members (stride 1) of an IP pool, starting at its set's offset. */
function backendsOf(set: number, spec: RouteSetSpec, ipPool: number): Backend[] {
  const out: Backend[] = [];
  for (let b = 0; b < spec.backendsPerRoute; b++) out.push({ ip: ipOf((set * 7 + b * 61) % ipPool), port: 8080, weight: 1 });
  return out;
}

/** Route `i` of a synthetic set, deep-frozen (syntheticDesired's routes, one at a time). */
export function syntheticRoute(i: number, spec: RouteSetSpec): Route {
  const set = spec.pools === 'distinct' ? i : i % spec.pools;
  return deepFreeze({
    name: `svc-${i}`,
    method: 'GET',
    path: `/svc/${set}/r${i}`,
    backends: backendsOf(set, spec, spec.ipPool ?? 2048),
    tableSize: 4099,
    source: { file: `routes/svc-${i}.yaml`, line: 1 },
  });
}

export function syntheticDesired(spec: RouteSetSpec): DesiredDataplane & { routes: Route[]; ipPool: number } {
  const ipPool = spec.ipPool ?? 2048;
  const routes: Route[] = [];
  for (let i = 0; i < spec.routes; i++) routes.push(syntheticRoute(i, spec));
  const listeners: Listener[] = [{ name: 'vip', address: VIP, port: 80, source: { file: 'routes/listeners.yaml', line: 1 } }];
  const nexthops: Record<string, string> = {};
  for (let n = 0; n < ipPool; n++) nexthops[ipOf(n)] = macOf(n);
  return { routes, listeners, nexthops, ipPool };
}

/** Route `r` (number `index` of its set) with one backend replaced by a pool IP it does not use yet. */
export function withBackendMoved(r: Route, index: number, step: number, ipPool: number): Route {
  const used = new Set(r.backends.map((b) => b.ip));
  let n = (index * 13 + step * 101) % ipPool;
  while (used.has(ipOf(n))) n = (n + 1) % ipPool;
  const backends = r.backends.map((b) => ({ ...b }));
  backends[step % backends.length] = { ip: ipOf(n), port: 8080, weight: 1 };
  return deepFreeze({ ...r, backends });
}

/** The desired state with one backend of route `index` replaced by a pool IP the route does not use yet. */
export function withOneBackendMoved(desired: ReturnType<typeof syntheticDesired>, index: number, step: number): ReturnType<typeof syntheticDesired> {
  const routes = desired.routes.slice();
  routes[index] = withBackendMoved(routes[index]!, index, step, desired.ipPool);
  return { ...desired, routes };
}

export function mapSizesFor(routes: number): Partial<Record<MapName, number>> {
  const r = Math.max(4096, routes);
  return { routes: r, maglev_tables: 2 * r, nexthops: 8192 };
}

/** A freshly loaded program with empty maps sized for `routes`; `dispose` closes and unpins. */
export function freshProgram(pinDir: string, routes: number): RautaProgram & { dispose(): void } {
  unpin(pinDir);
  const prog = loadRauta({ pinDir, maxEntries: mapSizesFor(routes) });
  return {
    ...prog,
    dispose() {
      prog.close();
      unpin(pinDir);
      rmSync(pinDir, { recursive: true, force: true });
    },
  };
}

export interface SyncTiming {
  readMs: number;
  planMs: number;
  applyMs: number;
  totalMs: number;
  apply: ApplyResult;
  ops: MapOp[];
  applied: AppliedState;
}

/**
 * From what the maps hold to `desired`: read back, plan (cold Maglev cache, as
 * a starting agent), apply; then the model is brought up to date as the
 * agent's MapModel does it (in place, table keys only).
 */
export function fullSync(maps: RautaMaps, desired: DesiredDataplane): SyncTiming {
  const t0 = performance.now();
  const applied = appliedStateOf(readMaps(maps).contents);
  const t1 = performance.now();
  const plan = planChanges(applied, desired, { cache: new MaglevCache() });
  const t2 = performance.now();
  const apply = applyPlan(maps, plan.ops);
  const t3 = performance.now();
  applyOpsInPlace(applied, plan.ops, { tableBytes: false });
  return { readMs: t1 - t0, planMs: t2 - t1, applyMs: t3 - t2, totalMs: t3 - t0, apply, ops: plan.ops, applied };
}

/** One change on a running node: plan against the applied state it keeps, then apply. */
export function planAndApply(
  maps: RautaMaps,
  applied: AppliedState,
  desired: DesiredDataplane,
  cache: MaglevCache,
  opts: Pick<PlanOptions, 'fullResync' | 'scope'> = {},
): { ms: number; planMs: number; ops: MapOp[]; apply: ApplyResult } {
  const t0 = performance.now();
  const plan = planChanges(applied, desired, { cache, ...opts });
  const t1 = performance.now();
  const apply = applyPlan(maps, plan.ops);
  return { ms: performance.now() - t0, planMs: t1 - t0, ops: plan.ops, apply };
}

function targetOf(maps: RautaMaps, op: MapOp): TypedMap<unknown, unknown> {
  const t = { routes: maps.routes, maglev_tables: maps.maglevTables, listeners: maps.listeners, nexthops: maps.nexthops, route_shapes: maps.routeShapes }[
    op.map as 'routes'
  ];
  return t as TypedMap<unknown, unknown>;
}

/**
 * The floor for a sync: the same entries, encoded beforehand, written into
 * empty maps with one bpf() update each. What no planner or transaction can beat.
 */
export function rawWriteFloor(maps: RautaMaps, ops: readonly MapOp[]): { ms: number; writes: number } {
  const writes: Array<[TypedMap<unknown, unknown>, Buffer, Buffer]> = [];
  // One encoding per value object: routes that share a backend pool share its
  // table, and an encoded copy per route would be 4 KB × routes of the floor's own.
  const encoded = new Map<unknown, Buffer>();
  for (const op of ops) {
    if (op.op !== 'set') continue;
    const t = targetOf(maps, op);
    let value = encoded.get(op.value);
    if (value === undefined) encoded.set(op.value, (value = t.valueCodec.encode(op.value)));
    writes.push([t, t.keyCodec.encode(op.key), value]);
  }
  const t0 = performance.now();
  for (const [t, k, v] of writes) t.raw.setRaw(k, v);
  return { ms: performance.now() - t0, writes: writes.length };
}

/** One connection through the loaded program: checks the sync really routes. */
export function routesRequest(prog: RautaProgram, path: string): boolean {
  const run = probeConnection(prog.progFd, prog.typed, {
    client: { ip: '10.0.0.1', port: 33333 },
    listener: { ip: VIP, port: 80 },
    payload: `GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`,
  });
  forgetFlow(prog.typed, run.flowKey);
  return run.outcome.kind === 'backend';
}
