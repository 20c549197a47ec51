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
import type { BackendSlot, ListenerKey, MaglevTable, MapOp, RouteKey, RouteShapes } from '../model/map-types.js';
import { sameShapes, shapeOf, ShapeCounts, unionShapes } from '../model/route-shapes.js';
import { backendIdentity, isHole, MaglevCache, maglevDisruption } from '../model/maglev.js';
import { listenerId, routeId, type Backend, type Listener, type Route } from '../routes/route-model.js';
import { AppliedTables, routeOfTable, type AppliedRoute, type AppliedState } from './applied-state.js';
import type { DesiredIndex } from '../state/desired-index.js';
import { alreadyAssigned, assignSlots, MAX_BACKENDS, type SlotAssignment } from './backend-slots.js';
import { sameBackends } from '../state/backend-lists.js';
import { methodName, routeKeyAndId, type RouteIdentity } from '../model/ids.js';

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
  /** plan only what may have changed (ignored with fullResync) */
  scope?: PlanScope;
}

/**
 * What may differ between `applied` and `desired`: a scoped plan writes
 * exactly what a full plan would, provided every difference is named here,
 * and costs what the scope costs, not what the state does. Differences are:
 * a route (desired or applied) whose entry or tables would change, an orphan
 * table (named by its route), a listener to set or delete, and a nexthop to
 * set or delete; a nexthop is covered when a scoped route's desired or
 * applied backends use its IP, or when `nexthops` names it. The agent names
 * the routes and listeners of the events it folded since its last good
 * apply, and the IPs whose looked-up MAC changed.
 */
export interface PlanScope {
  /** routeKeyId ("method:pathHash", routeIdFor) of each route that may differ */
  routes: Iterable<string>;
  /** listenerKeyId ("addr:port") of each listener that may differ */
  listeners: Iterable<string>;
  /** backend IPv4s whose nexthop may differ beyond those of the scoped routes (a changed MAC) */
  nexthops?: Iterable<string>;
  /** exactly desired.routes, indexed (a scoped plan reads desired routes from here, never from desired.routes) */
  index: DesiredIndex;
}

export type RouteChange = 'added' | 'removed' | 'changed' | 'repaired' | 'resynced';

export interface RoutePlan {
  /** routeKeyId */
  id: string;
  /** null for a removed route: the maps hold only the path's hash */
  name: string | null;
  /** the rule as routeId writes it ("GET /api/users", "ANY /api prefix"); null for a removed route: the maps hold only hashes */
  rule: string | null;
  /** the key's method ("GET", or "ANY"), known even when the rule is not */
  method: string;
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
  /** ROUTE_SHAPES writes: bits set before the routes, or cleared after them */
  shapesSet: number;
  /** backend IPs of desired routes without a nexthop: their traffic is XDP_PASS */
  missingNexthops: string[];
}

export interface Plan {
  ops: MapOp[];
  routes: RoutePlan[];
  summary: PlanSummary;
}

const defaultCache = new MaglevCache();
/** Routes whose tables are built as one batch: a full sync's 1,024 in one, and far below the cache's 8,192 entries. */
const PREPARE_CHUNK = 1024;

/** Routes in id order: the order writeRoutes writes them in, and asks the cache for their tables. */
const byId = (x: DesiredRoute, y: DesiredRoute): number => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);

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
    if (other) throw sharedKeyError(other.route, route);
    byId.set(id, { route, key, id, identity });
    checkBackends(route);
  }
  return byId;
}

function sharedKeyError(first: Route, second: Route): RautaError {
  const what =
    routeId(first) === routeId(second)
      ? 'the same match'
      : `a hash collision (FNV-1a 64 of "${first.host ?? ''}${first.path}" and "${second.host ?? ''}${second.path}")`;
  return new RautaError(
    'RAUTA_ERR_ROUTES_INVALID',
    `${where(second)}: route "${second.name}" (${routeId(second)}) and ${where(first)}: route "${first.name}" share a ROUTES key through ${what}; change one of them`,
  );
}

/** At most MAX_BACKENDS backends, each ip:port once. */
function checkBackends(route: Route): void {
  if (checkedRoutes.has(route)) return;
  const backends = route.backends;
  if (backends.length > MAX_BACKENDS) {
    throw new RautaError(
      'RAUTA_ERR_ROUTES_INVALID',
      `${where(route)}: route "${route.name}" has ${backends.length} backends, the data path takes at most ${MAX_BACKENDS}`,
    );
  }
  for (let i = 1; i < backends.length; i++) {
    for (let j = 0; j < i; j++) {
      if (backends[i]!.ip === backends[j]!.ip && backends[i]!.port === backends[j]!.port) {
        throw new RautaError(
          'RAUTA_ERR_ROUTES_INVALID',
          `${where(route)}: route "${route.name}" lists backend ${backendIdentity(backends[i]!)} twice; merge them into one entry`,
        );
      }
    }
  }
  if (Object.isFrozen(route) && Object.isFrozen(backends)) checkedRoutes.add(route);
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
 * With `options.scope` only the scoped routes, listeners and nexthops are
 * planned (see PlanScope); fullResync always plans everything.
 */
export function planChanges(applied: AppliedState, desired: DesiredDataplane, options: PlanOptions = {}): Plan {
  const fullResync = options.fullResync === true;
  const b = new PlanBuilder(applied, desired, options.cache ?? defaultCache, fullResync, options.verifyTables === true);
  return options.scope && !fullResync ? planScoped(b, options.scope) : planAll(b);
}

/** Every desired and applied route, listener and nexthop. */
function planAll(b: PlanBuilder): Plan {
  const { applied, desired } = b;
  const desiredRoutes = indexDesiredRoutes(values(desired.routes));
  const usedIps = new Set<string>();
  // Unchanged routes first, without allocating: the common case of every plan.
  // (With verifyTables, the tables to compare are built a chunk at a time.)
  const verifying = b.verifying ? [...desiredRoutes.values()] : null;
  // One chunk of routes or fewer (a full sync of up to 1,024): the new
  // routes' tables start building now, on the worker threads, while the rest
  // of the plan runs; writeRoutes then finds them.
  if (desiredRoutes.size <= PREPARE_CHUNK) b.prepareNewRoutes(desiredRoutes.values());
  const toWrite: DesiredRoute[] = [];
  let desiredAndApplied = 0;
  let seen = 0;
  for (const d of desiredRoutes.values()) {
    if (verifying && seen % PREPARE_CHUNK === 0) b.prepareVerification(verifying.slice(seen, seen + PREPARE_CHUNK));
    seen++;
    for (const be of d.route.backends) usedIps.add(be.ip);
    const a = applied.routes.get(d.id);
    if (a) desiredAndApplied++;
    if (!b.unchanged(d, a)) toWrite.push(d);
  }
  const unchanged = desiredRoutes.size - toWrite.length;

  // Desired ids are distinct, so if every applied route was matched there is nothing to remove.
  const removedIds: string[] = [];
  if (applied.routes.size > desiredAndApplied) for (const id of applied.routes.keys()) if (!desiredRoutes.has(id)) removedIds.push(id);
  b.removeRoutes(removedIds);
  b.writeRoutes(toWrite);

  const desiredListeners = listenersById(desired.listeners);
  b.planListeners([...desiredListeners.keys(), ...applied.listeners.keys()], desiredListeners);
  b.planNexthops([...usedIps, ...applied.nexthops.keys()], (ip) => usedIps.has(ip));
  const shapes = new ShapeCounts();
  for (const d of desiredRoutes.values()) shapes.add(shapeOf(d.key, d.route.path), 1);
  b.planShapes(shapes.shapes());

  // Orphan tables: any applied table that is neither deleted above nor its
  // route's final generation. Counting first skips the scan when there are none.
  let live = unchanged; // each unchanged route's current table is present (checked above)
  for (const [id, gen] of b.rewritten) if (applied.tables.has(`${id}:${gen}`)) live++;
  if (applied.tables.size > live + b.deletedTables.size) b.deleteOrphans(applied.tables.keys(), (rid) => desiredRoutes.has(rid));
  return b.finish(unchanged);
}

/** Only what the scope names; everything else is taken as already in place. */
function planScoped(b: PlanBuilder, scope: PlanScope): Plan {
  const { applied, desired } = b;
  const { index } = scope;
  const ids = new Set(scope.routes);
  const toWrite: DesiredRoute[] = [];
  const removedIds: string[] = [];
  const candidateIps: string[] = [...(scope.nexthops ?? [])];
  for (const id of ids) {
    const route = index.get(id);
    const a = applied.routes.get(id);
    if (a) for (const be of a.value.backends) if (!isHole(be)) candidateIps.push(be.ip);
    if (route === undefined) {
      if (a) removedIds.push(id);
      continue;
    }
    const clash = index.clash(id);
    if (clash !== undefined) throw sharedKeyError(route, clash);
    checkBackends(route);
    for (const be of route.backends) candidateIps.push(be.ip);
    const identity = routeKeyAndId(route);
    const d: DesiredRoute = { route, key: identity.key, id, identity };
    if (!b.unchanged(d, a)) toWrite.push(d);
  }
  b.removeRoutes(removedIds);
  b.writeRoutes(toWrite);
  const listenerIds = [...new Set(scope.listeners)];
  b.planListeners(listenerIds, listenersById(desired.listeners));
  b.planNexthops(candidateIps, (ip) => index.uses(ip));
  b.planShapes(index.shapes());
  const tablesOf = tablesByRoute(applied.tables);
  const tableIds: string[] = [];
  for (const id of ids) for (const t of tablesOf(id)) tableIds.push(t);
  b.deleteOrphans(tableIds, (rid) => index.get(rid) !== undefined);
  // Routes outside the scope are unchanged by the scope's contract.
  return b.finish(index.size - toWrite.length);
}

function listenersById(listeners: DesiredDataplane['listeners']): Map<string, ListenerKey> {
  const byId = new Map<string, ListenerKey>();
  for (const l of values(listeners)) byId.set(listenerId(l), { addr: l.address, port: l.port });
  return byId;
}

/** routeKeyId → its applied table ids, in the tables' order: AppliedTables' own index, else one scan. */
function tablesByRoute(tables: AppliedState['tables']): (routeKeyId: string) => readonly string[] {
  if (tables instanceof AppliedTables) return (id) => tables.ofRoute(id);
  let byRoute: Map<string, string[]> | null = null;
  return (id) => {
    if (byRoute === null) {
      byRoute = new Map();
      for (const tableId of tables.keys()) {
        const rid = routeOfTable(tableId);
        const list = byRoute.get(rid);
        if (list) list.push(tableId);
        else byRoute.set(rid, [tableId]);
      }
    }
    return byRoute.get(id) ?? [];
  };
}

/** The ops and reports of one plan, built in the order the header describes; shared by the full and the scoped plan. */
class PlanBuilder {
  readonly removeOps: MapOp[] = [];
  readonly routeOps: MapOp[] = [];
  readonly setFirst: MapOp[] = [];
  readonly deleteAfter: MapOp[] = [];
  orphanOps: MapOp[] = [];
  readonly shapesLast: MapOp[] = [];
  readonly routePlans: RoutePlan[] = [];
  readonly deletedTables = new Set<string>();
  /** routeKeyId → gen after this plan, for routes the plan writes */
  readonly rewritten = new Map<string, number>();
  listenersSet = 0;
  listenersDeleted = 0;
  nexthopsSet = 0;
  nexthopsDeleted = 0;
  shapesSet = 0;
  readonly missingNexthops: string[] = [];
  /** a frozen backend list → the names of its backends, for the reports of new routes (assign) */
  readonly #addedNames = new WeakMap<readonly Backend[], string[]>();
  /** ip → port → one "ip:port" string: the reports of a full sync name each backend of every route */
  readonly #identities = new Map<string, Map<number, string>>();
  readonly identity = (b: BackendSlot): string => {
    let ports = this.#identities.get(b.ip);
    if (ports === undefined) this.#identities.set(b.ip, (ports = new Map()));
    let id = ports.get(b.port);
    if (id === undefined) ports.set(b.port, (id = backendIdentity(b)));
    return id;
  };

  constructor(
    readonly applied: AppliedState,
    readonly desired: DesiredDataplane,
    private readonly cache: MaglevCache,
    private readonly fullResync: boolean,
    private readonly verifyTables: boolean,
  ) {}

  /** unchanged() compares applied table bytes with the tables their backends give. */
  get verifying(): boolean {
    return this.verifyTables && !this.fullResync;
  }

  /**
   * Start building the tables of the routes not applied yet (their backend
   * list is the desired one, as writeRoutes assigns it), in writeRoutes'
   * order, which is the order it asks for them in.
   */
  prepareNewRoutes(routes: Iterable<DesiredRoute>): void {
    const fresh: DesiredRoute[] = [];
    for (const d of routes) if (!this.applied.routes.has(d.id)) fresh.push(d);
    fresh.sort(byId);
    this.prepareTables(fresh.map((d) => [d.route.tableSize, d.route.backends]));
  }

  /** Build the tables unchanged() compares against for `routes` as one batch (after a restart, every route's). */
  prepareVerification(routes: Iterable<DesiredRoute>): void {
    const tables: Array<[number, readonly BackendSlot[]]> = [];
    for (const d of routes) {
      const a = this.applied.routes.get(d.id);
      if (a) tables.push([d.route.tableSize, a.value.backends]);
    }
    this.prepareTables(tables);
  }

  /** cache.prepare for each table size, the lists of that size in the order given. */
  private prepareTables(tables: Iterable<readonly [number, readonly BackendSlot[]]>): void {
    const bySize = new Map<number, (readonly BackendSlot[])[]>();
    for (const [size, list] of tables) {
      const lists = bySize.get(size);
      if (lists) lists.push(list);
      else bySize.set(size, [list]);
    }
    for (const [size, lists] of bySize) this.cache.prepare(lists, size);
  }

  /** True when the applied route already is `d` (well-formed, its table present and, with verifyTables, right). */
  unchanged(d: DesiredRoute, a: AppliedRoute | undefined): boolean {
    if (!a || this.fullResync || a.value.gen === 0 || !alreadyAssigned(a.value.backends, d.route.backends)) return false;
    const t = this.applied.tables.get(d.identity.tableId(a.value.gen));
    return t !== undefined && (!this.verifyTables || !t.value || sameBytes(t.value, tableFor(this.cache, a.value.backends, d.route.tableSize)!));
  }

  /** 2. removed routes, in id order: ROUTES delete, then every table of the route */
  removeRoutes(removedIds: string[]): void {
    if (removedIds.length === 0) return;
    removedIds.sort();
    const tablesOf = tablesByRoute(this.applied.tables);
    for (const id of removedIds) {
      const a = this.applied.routes.get(id)!;
      const before = this.removeOps.length;
      this.removeOps.push({ map: 'routes', op: 'delete', key: a.key });
      for (const tableId of tablesOf(id)) {
        this.removeOps.push({ map: 'maglev_tables', op: 'delete', key: this.applied.tables.get(tableId)!.key });
        this.deletedTables.add(tableId);
      }
      this.routePlans.push({
        id,
        name: null,
        rule: null,
        method: a.key.method === 0 ? 'ANY' : methodName(a.key.method),
        change: 'removed',
        backendsAdded: [],
        backendsRemoved: a.value.backends.filter((b) => !isHole(b)).map(this.identity),
        backendsChanged: [],
        disruption: 1,
        ops: this.removeOps.length - before,
        genFrom: a.value.gen,
        genTo: null,
      });
    }
  }

  /** 3. added and changed routes, in id order */
  writeRoutes(toWrite: DesiredRoute[]): void {
    toWrite.sort(byId);
    // Routes in chunks: each chunk's tables are built as one batch (on every
    // core when there are many), then its routes take them from the cache. A
    // chunk stays well inside the cache, so none is evicted before it is used.
    for (let at = 0; at < toWrite.length; at += PREPARE_CHUNK) {
      const chunk = toWrite.slice(at, at + PREPARE_CHUNK);
      const assignments = chunk.map((d) => this.assign(d));
      this.prepareTables(chunk.map((d, i) => [d.route.tableSize, assignments[i]!.slots]));
      chunk.forEach((d, i) => {
        this.writeRoute(d, assignments[i]!);
      });
    }
  }

  /**
   * assignSlots for `d`. A new route's report names every backend (32 names
   * a route in a full sync): routes with the same frozen list (the tracker
   * shares one per content) share one frozen array of names.
   */
  private assign(d: DesiredRoute): SlotAssignment {
    const applied = this.applied.routes.get(d.id);
    const a = assignSlots(applied?.value.backends ?? [], d.route.backends, this.identity);
    if (applied !== undefined || !Object.isFrozen(d.route.backends)) return a;
    const names = this.#addedNames.get(d.route.backends);
    if (names !== undefined) a.added = names;
    else this.#addedNames.set(d.route.backends, Object.freeze(a.added) as string[]);
    return a;
  }

  private writeRoute({ route, key, id }: DesiredRoute, assignment: SlotAssignment): void {
    const { cache, routeOps } = this;
    const size = route.tableSize;
    const a = this.applied.routes.get(id);
    if (!a) {
      const { slots, added } = assignment;
      const table = tableFor(cache, slots, size)!;
      const gen = 1;
      routeOps.push({ map: 'maglev_tables', op: 'set', key: { route: key, gen }, value: table });
      routeOps.push({ map: 'routes', op: 'set', key, value: { backends: slots, gen } });
      this.rewritten.set(id, gen);
      this.routePlans.push({
        id,
        name: route.name,
        rule: routeId(route),
        method: route.method ?? 'ANY',
        change: 'added',
        backendsAdded: added,
        backendsRemoved: [],
        backendsChanged: [],
        disruption: 0,
        ops: 2,
        genFrom: null,
        genTo: gen,
      });
      return;
    }
    const base = { id, name: route.name, rule: routeId(route), method: route.method ?? 'ANY' };
    const gen = a.value.gen;
    const backendsKept = sameBackends(assignment.slots, a.value.backends);
    const currentId = `${id}:${gen}`;
    const current = this.applied.tables.get(currentId);
    let tableProblem: string | null = null;
    if (gen === 0) tableProblem = 'gen 0 is never written';
    else if (!current) tableProblem = `no Maglev table for gen ${gen}`;
    else if (this.verifyTables && current.value && backendsKept) {
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
      this.deletedTables.add(currentId);
    }
    this.rewritten.set(id, newGen);
    // Disruption against what the data path uses now: the applied table if we
    // have its bytes, else the table the applied backends give.
    let disruption = 1;
    const oldTable = current?.value ?? tableFor(cache, liveOnly(a.value.backends), size);
    if (oldTable === table && backendsKept)
      disruption = 0; // same cached table, same slots
    else if (oldTable && oldTable.length === table.length) disruption = maglevDisruption(oldTable, a.value.backends, table, assignment.slots);
    let change: RouteChange;
    let reason: string | undefined;
    if (assignment.malformed !== null) [change, reason] = ['repaired', `backend list: ${assignment.malformed}`];
    else if (!backendsKept) change = 'changed';
    else if (tableProblem !== null) [change, reason] = ['repaired', tableProblem];
    else change = 'resynced';
    this.routePlans.push({
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

  /** 1 and 4. listeners among `ids` (listenerKeyId; repeats allowed): set the desired ones missing, delete the applied ones not desired */
  planListeners(ids: readonly string[], desiredListeners: ReadonlyMap<string, ListenerKey>): void {
    const sorted = [...new Set(ids)].sort();
    for (const id of sorted) {
      const key = desiredListeners.get(id);
      if (key && (this.fullResync || !this.applied.listeners.has(id))) {
        this.setFirst.push({ map: 'listeners', op: 'set', key, value: 0 });
        this.listenersSet++;
      }
    }
    for (const id of sorted) {
      const key = this.applied.listeners.get(id);
      if (key && !desiredListeners.has(id)) {
        this.deleteAfter.push({ map: 'listeners', op: 'delete', key });
        this.listenersDeleted++;
      }
    }
  }

  /** 1 and 4. nexthops among `ips` (repeats allowed): only for IPs a desired route uses and that have a MAC */
  planNexthops(ips: readonly string[], used: (ip: string) => boolean): void {
    const sorted = [...new Set(ips)].sort();
    const wanted = new Set<string>();
    for (const ip of sorted) {
      if (!used(ip)) continue;
      const mac = this.desired.nexthops[ip]?.toLowerCase();
      if (mac === undefined) {
        this.missingNexthops.push(ip);
        continue;
      }
      wanted.add(ip);
      const have = this.applied.nexthops.get(ip);
      if (this.fullResync || !have || have.mac.toLowerCase() !== mac) {
        this.setFirst.push({ map: 'nexthops', op: 'set', key: ip, value: { mac } });
        this.nexthopsSet++;
      }
    }
    for (const ip of sorted) {
      if (!wanted.has(ip) && this.applied.nexthops.has(ip)) {
        this.deleteAfter.push({ map: 'nexthops', op: 'delete', key: ip });
        this.nexthopsDeleted++;
      }
    }
  }

  /**
   * ROUTE_SHAPES: bits the desired routes need are set first (with the
   * applied ones: the union), so a route is findable from the moment it is
   * written; bits no route needs any more are cleared last.
   */
  planShapes(desired: RouteShapes): void {
    const have = this.applied.shapes;
    const union = unionShapes(have, desired);
    const grows = !sameShapes(union, have);
    const shrinks = !sameShapes(union, desired);
    if (grows || (this.fullResync && !shrinks)) this.setFirst.unshift({ map: 'route_shapes', op: 'set', key: 0, value: union });
    if (shrinks) this.shapesLast.push({ map: 'route_shapes', op: 'set', key: 0, value: desired });
    this.shapesSet = this.setFirst.filter((o) => o.map === 'route_shapes').length + this.shapesLast.length;
  }

  /** 5. orphan tables among `tableIds`: not deleted above and not their route's final gen */
  deleteOrphans(tableIds: Iterable<string>, isDesired: (routeKeyId: string) => boolean): void {
    const orphans: string[] = [];
    for (const tableId of tableIds) {
      if (this.deletedTables.has(tableId)) continue;
      const cut = tableId.lastIndexOf(':');
      const rid = tableId.slice(0, cut);
      const finalGen = this.rewritten.get(rid) ?? (isDesired(rid) ? this.applied.routes.get(rid)?.value.gen : undefined);
      if (finalGen === undefined || String(finalGen) !== tableId.slice(cut + 1)) orphans.push(tableId);
    }
    this.orphanOps = orphans.sort().map((id) => ({ map: 'maglev_tables', op: 'delete', key: this.applied.tables.get(id)!.key }));
  }

  finish(unchanged: number): Plan {
    const ops = [...this.setFirst, ...this.removeOps, ...this.routeOps, ...this.deleteAfter, ...this.orphanOps, ...this.shapesLast];
    const count = (c: RouteChange) => this.routePlans.filter((r) => r.change === c).length;
    return {
      ops,
      routes: this.routePlans,
      summary: {
        ops: ops.length,
        routesAdded: count('added'),
        routesRemoved: count('removed'),
        routesChanged: count('changed'),
        routesRepaired: count('repaired'),
        routesResynced: count('resynced'),
        routesUnchanged: unchanged,
        listenersSet: this.listenersSet,
        listenersDeleted: this.listenersDeleted,
        nexthopsSet: this.nexthopsSet,
        nexthopsDeleted: this.nexthopsDeleted,
        orphanTablesDeleted: this.orphanOps.length,
        shapesSet: this.shapesSet,
        missingNexthops: this.missingNexthops,
      },
    };
  }
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

export {
  AppliedTables,
  appliedStateOf,
  applyOpsInPlace,
  emptyAppliedState,
  simulateApply,
  withoutTableBytes,
  withTableIndex,
  type AppliedRoute,
  type InPlaceOptions,
  type AppliedState,
  type AppliedTable,
} from './applied-state.js';
export { DesiredIndex } from '../state/desired-index.js';
export { listenerKeyId, maglevKeyId, nexthopKeyId, routeIdFor, routeKeyFor, routeKeyId, routeKeyOf } from '../model/ids.js';
