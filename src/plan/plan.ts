// planChanges: (applied, desired) → ordered map operations. Pure.
//
// Ordering, so that no packet sees a route and a table that disagree and a
// crash anywhere converges on the next plan:
//   1. listeners and nexthops the desired routes need (set)
//   2. removed routes: ROUTES delete, then every table of that route
//   3. added/changed routes: table (route, gen+1) set, ROUTES set (one atomic
//      update carrying the new backends and gen), then table (route, gen) delete
//   4. listeners and nexthops no longer needed (delete)
//   5. orphan tables (route absent, or gen not the route's gen) (delete)
import { RautaError } from '../errors.js';
import type { BackendSlot, ListenerKey, MaglevTable, MapOp, RouteKey } from '../dataplane/map-types.js';
import { backendIdentity, isHole, MaglevCache, maglevDisruption } from '../dataplane/maglev.js';
import { listenerId, routeId, type Listener, type Route } from '../routes/route-model.js';
import type { AppliedState, AppliedTable } from './applied-state.js';
import { alreadyAssigned, assignSlots, MAX_BACKENDS, sameSlots } from './backend-slots.js';
import { listenerKeyId, maglevKeyId, methodName, routeKeyAndId, type RouteIdentity } from './ids.js';

export interface DesiredDataplane {
  routes: readonly Route[] | Readonly<Record<string, Route>>;
  listeners: readonly Listener[] | Readonly<Record<string, Listener>>;
  /** backend IPv4 → destination MAC; entries for IPs no desired route uses are not written */
  nexthops: Readonly<Record<string, string>>;
}

export interface PlanOptions {
  /** rewrite every entry (new table generation for every route), same ordering rules */
  fullResync?: boolean;
  /** compare applied table bytes (when present) with the expected table and repair mismatches */
  verifyTables?: boolean;
  /** tables shared across plans; a module-wide cache is used when omitted */
  cache?: MaglevCache;
}

export type RouteChange = 'added' | 'removed' | 'changed' | 'repaired' | 'resynced';

export interface RoutePlan {
  /** routeKeyId */
  id: string;
  /** null for a removed route: the maps hold only the path's hash */
  name: string | null;
  method: string;
  path: string | null;
  change: RouteChange;
  /** ip:port lists */
  backendsAdded: string[];
  backendsRemoved: string[];
  backendsChanged: { backend: string; from: number; to: number }[];
  /** share of Maglev slots whose backend changes (0 for an added route, 1 for a removed one) */
  disruption: number;
  /** number of map operations for this route */
  ops: number;
  genFrom: number | null;
  genTo: number | null;
  /** for 'repaired': what was wrong */
  reason?: string;
}

export interface PlanSummary {
  ops: number;
  routesAdded: number;
  routesRemoved: number;
  routesChanged: number;
  routesRepaired: number;
  routesResynced: number;
  routesUnchanged: number;
  listenersSet: number;
  listenersDeleted: number;
  nexthopsSet: number;
  nexthopsDeleted: number;
  orphanTablesDeleted: number;
  /** backend IPs of desired routes without a nexthop: their traffic is XDP_PASS */
  missingNexthops: string[];
}

export interface Plan {
  ops: MapOp[];
  routes: RoutePlan[];
  summary: PlanSummary;
}

const defaultCache = new MaglevCache();

function values<T>(input: readonly T[] | Readonly<Record<string, T>>): readonly T[] {
  return Array.isArray(input) ? (input as readonly T[]) : Object.values(input as Record<string, T>);
}

function nextGen(gen: number): number {
  return gen >= 0xffffffff ? 1 : gen + 1;
}

function where(route: Route): string {
  return `${route.source.file}:${route.source.line}`;
}

interface DesiredRoute {
  route: Route;
  key: RouteKey;
  id: string;
  identity: RouteIdentity;
}

/** Frozen routes already checked (their backends cannot change). */
const checkedRoutes = new WeakSet<Route>();

function indexDesiredRoutes(routes: readonly Route[]): Map<string, DesiredRoute> {
  const byId = new Map<string, DesiredRoute>();
  for (const route of routes) {
    const identity = routeKeyAndId(route);
    const { key, id } = identity;
    const other = byId.get(id);
    if (other) {
      const what = routeId(other.route) === routeId(route) ? 'the same method and path' : `a path hash collision (FNV-1a 64 of "${other.route.path}" and "${route.path}")`;
      throw new RautaError('RAUTA_ERR_ROUTES_INVALID', `${where(route)}: route "${route.name}" (${routeId(route)}) and ${where(other.route)}: route "${other.route.name}" share a ROUTES key through ${what}; rename one path`);
    }
    byId.set(id, { route, key, id, identity });
    if (checkedRoutes.has(route)) continue;
    const backends = route.backends;
    if (backends.length > MAX_BACKENDS) {
      throw new RautaError('RAUTA_ERR_ROUTES_INVALID', `${where(route)}: route "${route.name}" has ${backends.length} backends, the data path takes at most ${MAX_BACKENDS}`);
    }
    for (let i = 1; i < backends.length; i++) {
      for (let j = 0; j < i; j++) {
        if (backends[i]!.ip === backends[j]!.ip && backends[i]!.port === backends[j]!.port) {
          throw new RautaError('RAUTA_ERR_ROUTES_INVALID', `${where(route)}: route "${route.name}" lists backend ${backendIdentity(backends[i]!)} twice; merge them into one entry`);
        }
      }
    }
    if (Object.isFrozen(route) && Object.isFrozen(backends)) checkedRoutes.add(route);
  }
  return byId;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The table a backend list should have, or null when it has no live backend. */
function tableFor(cache: MaglevCache, slots: readonly BackendSlot[], size: number): MaglevTable | null {
  if (!slots.some((b) => !isHole(b) && b.weight > 0)) return null;
  // Holes carry weight 0, so they get no Maglev slot and the indexes are slot indexes.
  return cache.get(slots, size);
}

/**
 * Plan the map writes that take `applied` to `desired`. The maps of
 * `applied` must be keyed by the ids of ids.ts (routeKeyId, maglevKeyId, ...).
 */
export function planChanges(applied: AppliedState, desired: DesiredDataplane, options: PlanOptions = {}): Plan {
  const cache = options.cache ?? defaultCache;
  const fullResync = options.fullResync === true;
  const verifyTables = options.verifyTables === true;
  const desiredRoutes = indexDesiredRoutes(values(desired.routes));

  const removeOps: MapOp[] = [];
  const routeOps: MapOp[] = [];
  const routePlans: RoutePlan[] = [];
  const deletedTables = new Set<string>();
  /** routeKeyId → gen after this plan, for routes the plan writes */
  const rewritten = new Map<string, number>();
  const usedIps = new Set<string>();
  let unchanged = 0;

  // Unchanged routes first, without allocating: the common case of every plan.
  const toWrite: string[] = [];
  let desiredAndApplied = 0;
  for (const { route, id, identity } of desiredRoutes.values()) {
    for (const b of route.backends) usedIps.add(b.ip);
    const a = applied.routes.get(id);
    if (a) desiredAndApplied++;
    if (a && !fullResync && a.value.gen !== 0 && alreadyAssigned(a.value.backends, route.backends)) {
      const t = applied.tables.get(identity.tableId(a.value.gen));
      if (t && (!verifyTables || !t.value || sameBytes(t.value, tableFor(cache, a.value.backends, route.tableSize)!))) {
        unchanged++;
        continue;
      }
    }
    toWrite.push(id);
  }

  // 2. removed routes, in id order
  const removedIds: string[] = [];
  // Desired ids are distinct, so if every applied route was matched there is nothing to remove.
  if (applied.routes.size > desiredAndApplied) for (const id of applied.routes.keys()) if (!desiredRoutes.has(id)) removedIds.push(id);
  if (removedIds.length > 0) {
    removedIds.sort();
    const tablesByRoute = new Map<string, AppliedTable[]>();
    for (const [tableId, t] of applied.tables) {
      const rid = tableId.slice(0, tableId.lastIndexOf(':'));
      const list = tablesByRoute.get(rid);
      if (list) list.push(t);
      else tablesByRoute.set(rid, [t]);
    }
    for (const id of removedIds) {
      const a = applied.routes.get(id)!;
      const before = removeOps.length;
      removeOps.push({ map: 'routes', op: 'delete', key: a.key });
      for (const t of tablesByRoute.get(id) ?? []) {
        removeOps.push({ map: 'maglev_tables', op: 'delete', key: t.key });
        deletedTables.add(maglevKeyId(t.key));
      }
      routePlans.push({
        id,
        name: null,
        method: methodName(a.key.method),
        path: null,
        change: 'removed',
        backendsAdded: [],
        backendsRemoved: a.value.backends.filter((b) => !isHole(b)).map(backendIdentity),
        backendsChanged: [],
        disruption: 1,
        ops: removeOps.length - before,
        genFrom: a.value.gen,
        genTo: null,
      });
    }
  }

  // 3. added and changed routes, in id order
  toWrite.sort();
  for (const id of toWrite) {
    const { route, key } = desiredRoutes.get(id)!;
    const size = route.tableSize;
    const a = applied.routes.get(id);
    if (!a) {
      const { slots, added } = assignSlots([], route.backends);
      const table = tableFor(cache, slots, size)!;
      const gen = 1;
      routeOps.push({ map: 'maglev_tables', op: 'set', key: { route: key, gen }, value: table });
      routeOps.push({ map: 'routes', op: 'set', key, value: { backends: slots, gen } });
      rewritten.set(id, gen);
      routePlans.push({
        id,
        name: route.name,
        method: route.method,
        path: route.path,
        change: 'added',
        backendsAdded: added,
        backendsRemoved: [],
        backendsChanged: [],
        disruption: 0,
        ops: 2,
        genFrom: null,
        genTo: gen,
      });
      continue;
    }
    const base = { id, name: route.name, method: route.method, path: route.path };
    const gen = a.value.gen;
    const assignment = assignSlots(a.value.backends, route.backends);
    const sameBackends = sameSlots(assignment.slots, a.value.backends);
    const currentId = `${id}:${gen}`;
    const current = applied.tables.get(currentId);
    let tableProblem: string | null = null;
    if (gen === 0) tableProblem = 'gen 0 is never written';
    else if (!current) tableProblem = `no Maglev table for gen ${gen}`;
    else if (verifyTables && current.value && sameBackends) {
      const expected = tableFor(cache, assignment.slots, size);
      if (!expected || !sameBytes(current.value, expected)) tableProblem = `the Maglev table for gen ${gen} differs from the one its backends give`;
    }
    const newGen = nextGen(gen);
    const table = tableFor(cache, assignment.slots, size)!;
    const before = routeOps.length;
    routeOps.push({ map: 'maglev_tables', op: 'set', key: { route: key, gen: newGen }, value: table });
    routeOps.push({ map: 'routes', op: 'set', key, value: { backends: assignment.slots, gen: newGen } });
    if (current) {
      routeOps.push({ map: 'maglev_tables', op: 'delete', key: current.key });
      deletedTables.add(currentId);
    }
    rewritten.set(id, newGen);
    // Disruption against what the data path uses now: the applied table if we
    // have its bytes, else the table the applied backends give.
    let disruption = 1;
    const oldTable = current?.value ?? tableFor(cache, liveOnly(a.value.backends), size);
    if (oldTable === table && sameBackends) disruption = 0; // same cached table, same slots
    else if (oldTable && oldTable.length === table.length) disruption = maglevDisruption(oldTable, a.value.backends, table, assignment.slots);
    let change: RouteChange;
    let reason: string | undefined;
    if (assignment.malformed !== null) [change, reason] = ['repaired', `backend list: ${assignment.malformed}`];
    else if (!sameBackends) change = 'changed';
    else if (tableProblem !== null) [change, reason] = ['repaired', tableProblem];
    else change = 'resynced';
    routePlans.push({
      ...base,
      change,
      backendsAdded: assignment.added,
      backendsRemoved: assignment.removed,
      backendsChanged: assignment.reweighted,
      disruption,
      ops: routeOps.length - before,
      genFrom: gen,
      genTo: newGen,
      ...(reason !== undefined ? { reason } : {}),
    });
  }

  // 1 and 4. listeners
  const setFirst: MapOp[] = [];
  const deleteAfter: MapOp[] = [];
  const desiredListeners = new Map<string, ListenerKey>();
  for (const l of values(desired.listeners)) desiredListeners.set(listenerId(l), { addr: l.address, port: l.port });
  let listenersSet = 0;
  let listenersDeleted = 0;
  for (const [, key] of [...desiredListeners].sort(byKey)) {
    if (fullResync || !applied.listeners.has(listenerKeyId(key))) {
      setFirst.push({ map: 'listeners', op: 'set', key, value: 0 });
      listenersSet++;
    }
  }
  const desiredListenerIds = new Set([...desiredListeners.values()].map(listenerKeyId));
  for (const [id, key] of [...applied.listeners].sort(byKey)) {
    if (!desiredListenerIds.has(id)) {
      deleteAfter.push({ map: 'listeners', op: 'delete', key });
      listenersDeleted++;
    }
  }

  // nexthops: only for IPs a desired route uses
  let nexthopsSet = 0;
  let nexthopsDeleted = 0;
  const missingNexthops: string[] = [];
  const wantedNexthops = new Map<string, string>();
  for (const ip of [...usedIps].sort()) {
    const mac = desired.nexthops[ip];
    if (mac === undefined) missingNexthops.push(ip);
    else wantedNexthops.set(ip, mac.toLowerCase());
  }
  for (const [ip, mac] of wantedNexthops) {
    const have = applied.nexthops.get(ip);
    if (fullResync || !have || have.mac.toLowerCase() !== mac) {
      setFirst.push({ map: 'nexthops', op: 'set', key: ip, value: { mac } });
      nexthopsSet++;
    }
  }
  for (const ip of [...applied.nexthops.keys()].sort()) {
    if (!wantedNexthops.has(ip)) {
      deleteAfter.push({ map: 'nexthops', op: 'delete', key: ip });
      nexthopsDeleted++;
    }
  }

  // 5. orphan tables: any applied table that is neither deleted above nor its
  // route's final generation. Counting first skips the scan when there are none.
  const orphans: string[] = [];
  let live = unchanged; // each unchanged route's current table is present (checked above)
  for (const [id, gen] of rewritten) if (applied.tables.has(`${id}:${gen}`)) live++;
  if (applied.tables.size > live + deletedTables.size) {
    for (const tableId of applied.tables.keys()) {
      if (deletedTables.has(tableId)) continue;
      const cut = tableId.lastIndexOf(':');
      const rid = tableId.slice(0, cut);
      const finalGen = rewritten.get(rid) ?? (desiredRoutes.has(rid) ? applied.routes.get(rid)?.value.gen : undefined);
      if (finalGen === undefined || String(finalGen) !== tableId.slice(cut + 1)) orphans.push(tableId);
    }
  }
  const orphanOps: MapOp[] = orphans.sort().map((id) => ({ map: 'maglev_tables', op: 'delete', key: applied.tables.get(id)!.key }));

  const ops = [...setFirst, ...removeOps, ...routeOps, ...deleteAfter, ...orphanOps];
  const count = (c: RouteChange) => routePlans.filter((r) => r.change === c).length;
  return {
    ops,
    routes: routePlans,
    summary: {
      ops: ops.length,
      routesAdded: count('added'),
      routesRemoved: count('removed'),
      routesChanged: count('changed'),
      routesRepaired: count('repaired'),
      routesResynced: count('resynced'),
      routesUnchanged: unchanged,
      listenersSet,
      listenersDeleted,
      nexthopsSet,
      nexthopsDeleted,
      orphanTablesDeleted: orphanOps.length,
      missingNexthops,
    },
  };
}

function byKey<V>(a: [string, V], b: [string, V]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Applied backends with anything but a well-formed live backend turned into a hole (for the "old table" estimate). */
function liveOnly(backends: readonly BackendSlot[]): BackendSlot[] {
  const seen = new Set<string>();
  return backends.slice(0, MAX_BACKENDS).map((b) => {
    const id = backendIdentity(b);
    if (isHole(b) || b.weight === 0 || b.ip === '0.0.0.0' || b.port === 0 || seen.has(id)) return { ip: '0.0.0.0', port: 0, weight: 0 };
    seen.add(id);
    return b;
  });
}

export { emptyAppliedState, simulateApply, type AppliedRoute, type AppliedState, type AppliedTable } from './applied-state.js';
export { listenerKeyId, maglevKeyId, nexthopKeyId, routeIdFor, routeKeyFor, routeKeyId } from './ids.js';
