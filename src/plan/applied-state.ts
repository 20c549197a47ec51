// What is in (or was last written to) the maps, keyed by the ids in ids.ts.
// The agent fills it by reading the pinned maps back; simulateApply is the
// pure model of running a plan's ops against it (tests use it to check that
// a plan reaches its fixpoint; the real apply is src/dataplane's).
import { RautaError } from '../errors.js';
import type { BackendList, ListenerKey, MaglevKey, MaglevTable, MapOp, Nexthop, RouteKey } from '../dataplane/map-types.js';
import { listenerKeyId, maglevKeyId, nexthopKeyId, routeKeyId } from './ids.js';

export interface AppliedRoute {
  key: RouteKey;
  value: BackendList;
}

export interface AppliedTable {
  key: MaglevKey;
  /** absent when the agent listed keys only (planning does not need the bytes unless verifyTables) */
  value?: MaglevTable;
}

export interface AppliedState {
  /** by routeKeyId */
  routes: Map<string, AppliedRoute>;
  /** by maglevKeyId */
  tables: Map<string, AppliedTable>;
  /** by listenerKeyId */
  listeners: Map<string, ListenerKey>;
  /** by backend IPv4 */
  nexthops: Map<string, Nexthop>;
}

export function emptyAppliedState(): AppliedState {
  return { routes: new Map(), tables: new Map(), listeners: new Map(), nexthops: new Map() };
}

/**
 * The applied state after running `ops` in order. Deleting an absent entry
 * throws, as the kernel would answer ENOENT: a plan must not ask for it.
 */
export function simulateApply(applied: AppliedState, ops: readonly MapOp[]): AppliedState {
  const next: AppliedState = {
    routes: new Map(applied.routes),
    tables: new Map(applied.tables),
    listeners: new Map(applied.listeners),
    nexthops: new Map(applied.nexthops),
  };
  const remove = (map: Map<string, unknown>, name: string, id: string) => {
    if (!map.delete(id)) throw new RautaError('RAUTA_ERR_APPLY_FAILED', `delete of absent ${name} entry ${id} (the kernel answers ENOENT)`);
  };
  for (const op of ops) {
    switch (op.map) {
      case 'routes':
        if (op.op === 'set') next.routes.set(routeKeyId(op.key), { key: op.key, value: op.value });
        else remove(next.routes, 'routes', routeKeyId(op.key));
        break;
      case 'maglev_tables':
        if (op.op === 'set') next.tables.set(maglevKeyId(op.key), { key: op.key, value: op.value });
        else remove(next.tables, 'maglev_tables', maglevKeyId(op.key));
        break;
      case 'listeners':
        if (op.op === 'set') next.listeners.set(listenerKeyId(op.key), op.key);
        else remove(next.listeners, 'listeners', listenerKeyId(op.key));
        break;
      case 'nexthops':
        if (op.op === 'set') next.nexthops.set(nexthopKeyId(op.key), op.value);
        else remove(next.nexthops, 'nexthops', nexthopKeyId(op.key));
        break;
    }
  }
  return next;
}
