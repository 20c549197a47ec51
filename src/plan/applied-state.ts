// What is in (or was last written to) the maps, keyed by the ids in ids.ts.
// The agent fills it by reading the pinned maps back; simulateApply is the
// pure model of running a plan's ops against it (tests use it to check that
// a plan reaches its fixpoint; the real apply is src/dataplane's).
import { RautaError } from '../errors.js';
import type { BackendList, ListenerKey, MaglevKey, MaglevTable, MapContents, MapOp, Nexthop, RouteKey, RouteShapes } from '../model/map-types.js';
import { emptyShapes } from '../model/route-shapes.js';
import { listenerKeyId, maglevKeyId, nexthopKeyId, routeKeyId } from '../model/ids.js';

export interface AppliedRoute {
  key: RouteKey;
  value: BackendList;
}

export interface AppliedTable {
  key: MaglevKey;
  /** absent when the agent listed keys only (planning does not need the bytes unless verifyTables) */
  value?: MaglevTable;
}

/**
 * Applied tables with an index by route (routeKeyId → its table ids, in
 * insertion order), kept by set and delete themselves so it cannot go stale
 * whoever edits the map: a scoped plan finds one route's tables, whatever
 * their gens, without scanning every table.
 */
export class AppliedTables extends Map<string, AppliedTable> {
  // One table per route is the steady state: a string, an array only for more.
  readonly #byRoute = new Map<string, string | string[]>();

  constructor(entries?: Iterable<readonly [string, AppliedTable]>) {
    super();
    if (entries) for (const [id, t] of entries) this.set(id, t);
  }

  override set(id: string, table: AppliedTable): this {
    if (!super.has(id)) {
      const rid = routeOfTable(id);
      const have = this.#byRoute.get(rid);
      if (have === undefined) this.#byRoute.set(rid, id);
      else if (typeof have === 'string') this.#byRoute.set(rid, [have, id]);
      else have.push(id);
    }
    return super.set(id, table);
  }

  override delete(id: string): boolean {
    if (!super.delete(id)) return false;
    const rid = routeOfTable(id);
    const have = this.#byRoute.get(rid);
    if (typeof have === 'string') this.#byRoute.delete(rid);
    else if (have) {
      have.splice(have.indexOf(id), 1);
      if (have.length === 1) this.#byRoute.set(rid, have[0]!);
    }
    return true;
  }

  override clear(): void {
    super.clear();
    this.#byRoute.clear();
  }

  /** The table ids (maglevKeyId) of one route, in the order they were added. */
  ofRoute(routeKeyId: string): readonly string[] {
    const have = this.#byRoute.get(routeKeyId);
    return have === undefined ? [] : typeof have === 'string' ? [have] : have.slice();
  }
}

/** "method:pathHash" of a "method:pathHash:gen" table id. */
export function routeOfTable(tableId: string): string {
  return tableId.slice(0, tableId.lastIndexOf(':'));
}

export interface AppliedState {
  /** by routeKeyId */
  routes: Map<string, AppliedRoute>;
  /** by maglevKeyId (an AppliedTables when this module made it: scoped plans need its index) */
  tables: Map<string, AppliedTable>;
  /** by listenerKeyId */
  listeners: Map<string, ListenerKey>;
  /** by backend IPv4 */
  nexthops: Map<string, Nexthop>;
  /** ROUTE_SHAPES' entry */
  shapes: RouteShapes;
}

/** `applied` with its tables in an AppliedTables (copied once if they are a plain Map, e.g. as read back). */
export function withTableIndex(applied: AppliedState): AppliedState {
  return applied.tables instanceof AppliedTables ? applied : { ...applied, tables: new AppliedTables(applied.tables) };
}

export function emptyAppliedState(): AppliedState {
  return { routes: new Map(), tables: new AppliedTables(), listeners: new Map(), nexthops: new Map(), shapes: emptyShapes() };
}

/** The planner's model of maps read back (dataplane/read-back.ts readMaps), tables indexed by route. */
export function appliedStateOf(contents: MapContents): AppliedState {
  const applied = emptyAppliedState();
  for (const r of contents.routes) applied.routes.set(routeKeyId(r.key), r);
  for (const t of contents.tables) applied.tables.set(maglevKeyId(t.key), t.value === undefined ? { key: t.key } : { key: t.key, value: t.value });
  for (const l of contents.listeners) applied.listeners.set(listenerKeyId(l), l);
  for (const [ip, nh] of contents.nexthops) applied.nexthops.set(nexthopKeyId(ip), nh);
  applied.shapes = contents.shapes;
  return applied;
}

/**
 * The applied state after running `ops` in order. Deleting an absent entry
 * throws, as the kernel would answer ENOENT: a plan must not ask for it.
 */
export function simulateApply(applied: AppliedState, ops: readonly MapOp[]): AppliedState {
  const next: AppliedState = {
    routes: new Map(applied.routes),
    tables: new AppliedTables(applied.tables),
    listeners: new Map(applied.listeners),
    nexthops: new Map(applied.nexthops),
    shapes: applied.shapes,
  };
  applyOpsInPlace(next, ops);
  return next;
}

export interface InPlaceOptions {
  /**
   * Keep the bytes of the tables written (default true). The agent's model
   * keeps keys only, as a read-back does: a table is 4 KB and planning needs
   * its bytes only to verify it (drift checks read them from the maps).
   */
  tableBytes?: boolean;
}

/** `applied` with the bytes of its tables dropped (the keys are what planning needs). */
export function withoutTableBytes(applied: AppliedState): AppliedState {
  const tables = new AppliedTables();
  for (const [id, t] of applied.tables) tables.set(id, t.value === undefined ? t : { key: t.key });
  return { ...applied, tables };
}

/**
 * simulateApply without the copy: `applied` itself becomes the state after
 * `ops` (O(ops), for a model kept across many small plans). A throw leaves
 * it part-way: drop it then.
 */
export function applyOpsInPlace(applied: AppliedState, ops: readonly MapOp[], opts: InPlaceOptions = {}): void {
  const tableBytes = opts.tableBytes ?? true;
  const remove = (map: Map<string, unknown>, name: string, id: string) => {
    if (!map.delete(id)) throw new RautaError('RAUTA_ERR_APPLY_FAILED', `delete of absent ${name} entry ${id} (the kernel answers ENOENT)`);
  };
  for (const op of ops) {
    switch (op.map) {
      case 'routes':
        if (op.op === 'set') applied.routes.set(routeKeyId(op.key), { key: op.key, value: op.value });
        else remove(applied.routes, 'routes', routeKeyId(op.key));
        break;
      case 'maglev_tables':
        if (op.op === 'set') applied.tables.set(maglevKeyId(op.key), tableBytes ? { key: op.key, value: op.value } : { key: op.key });
        else remove(applied.tables, 'maglev_tables', maglevKeyId(op.key));
        break;
      case 'listeners':
        if (op.op === 'set') applied.listeners.set(listenerKeyId(op.key), op.key);
        else remove(applied.listeners, 'listeners', listenerKeyId(op.key));
        break;
      case 'nexthops':
        if (op.op === 'set') applied.nexthops.set(nexthopKeyId(op.key), op.value);
        else remove(applied.nexthops, 'nexthops', nexthopKeyId(op.key));
        break;
      case 'route_shapes':
        applied.shapes = op.value;
        break;
    }
  }
}
