// The node agent's desired state: the fold of the event log, and what the
// agent needs besides it to plan a commit by what the commit touched and to
// know what it last brought the maps to. Pure: no I/O.
//
// - The state is the tracker's own and folded in place, one whole commit at a
//   time (foldEventsInPlace): a copy per commit would cost every route, ~72 ms
//   at 65,536 routes. Routes and listeners are frozen as they arrive (the
//   planner caches routes by identity; a plan's values must not change).
// - The DesiredIndex is kept equal to the routes as they are folded.
// - The undo record holds, for every route and listener changed since the
//   last markApplied(), the value it had then. Its keys are the touched scope
//   of the next plan; the state with the undo record put back is the state
//   last applied, which drift checks restore.
// - The last applied target also names the nexthop lookup it was applied
//   with: a MAC that moved since is in the touched scope too.
// - A RouteView (backend health) may plan a route differently from its
//   desired definition on this node. The tracker keeps those effective routes
//   beside the desired ones (an overlay of the routes the view changes): the
//   index, the undo record, routes and lastApplied() are effective; state
//   (and so the snapshot) stays the fold of the log.
// - Routes, desired and effective, are stored with their backend list shared
//   by content (one list per service, not one per route: BackendLists).
import { routeIdFor } from '../model/ids.js';
import type { RautaEvent } from '../routes/route-events.js';
import { routeId, type Listener, type Route } from '../routes/route-model.js';
import { BackendLists } from './backend-lists.js';
import { DesiredIndex } from './desired-index.js';
import { initialState, type DesiredState } from './desired-state.js';
import { foldEventsInPlace, type FoldChange } from './fold.js';

export type RouteRef = Pick<Route, 'method' | 'path'>;
/** backend IPv4 → destination MAC, as the node's neighbour lookup answered */
export type NexthopLookup = Readonly<Record<string, string>>;

/** What the maps were last brought to. */
export interface AppliedTarget {
  /** seq and commit of the desired state applied */
  seq: number;
  commit: string | null;
  routes: Readonly<Record<string, Route>>;
  listeners: Readonly<Record<string, Listener>>;
  nexthops: NexthopLookup;
}

/** What may differ between the last applied target and the desired state now (the ids planChanges' PlanScope takes). */
export interface TouchedScope {
  /** routeKeyId of each route changed since the last apply */
  routes: string[];
  /** listenerId of each listener changed since the last apply */
  listeners: string[];
  /** backend IPv4s whose looked-up MAC differs from the one last applied */
  nexthops: string[];
}

/** What a node plans for each desired route, when it differs from the definition (backend health drains). */
export interface RouteView {
  /** the route this node plans for desired route `r`: `r` itself when the view leaves it alone */
  route(r: Route): Route;
  /** the desired routes at the start (a snapshot and the log's tail folded) */
  followAll(routes: Iterable<Route>): void;
  /** a desired route came (before undefined), changed, or went (after undefined) */
  follow(before: Route | undefined, after: Route | undefined): void;
}

interface RouteUndo {
  ref: RouteRef;
  before: Route | undefined;
}

/** Freeze a route or listener deeply: the planner caches frozen routes by identity, and apply relies on plan values not changing. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The IPs whose MAC differs between two lookups (one side may lack it). */
export function changedMacs(before: NexthopLookup, after: NexthopLookup): string[] {
  if (before === after) return [];
  const out: string[] = [];
  for (const ip in after) if (before[ip] !== after[ip]) out.push(ip);
  for (const ip in before) if (!(ip in after)) out.push(ip);
  return out;
}

export class DesiredTracker {
  readonly #state: DesiredState;
  /** the effective routes indexed for scoped plans, always equal to routes */
  readonly index: DesiredIndex;
  readonly #view: RouteView | undefined;
  /** by routeId: the effective route where the view changes the desired one */
  readonly #overlay = new Map<string, Route>();
  /** what the maps were last brought to; undefined until the first markApplied() */
  #applied: { seq: number; commit: string | null; nexthops: NexthopLookup } | undefined;
  /** by routeId: the routes changed since the last markApplied() and their values then */
  readonly #undoRoutes = new Map<string, RouteUndo>();
  /** by listenerId: likewise for listeners */
  readonly #undoListeners = new Map<string, Listener | undefined>();
  #changed = true;
  /** the backend lists of the stored routes, one per content */
  readonly #lists = new BackendLists();
  readonly #store = (route: Route): Route => deepFreeze(this.#lists.hold(route));

  /** A tracker of `start` (a snapshot: copied, the tracker folds into its own), or of the empty state. */
  constructor(start?: DesiredState | null, view?: RouteView) {
    const s = start ?? initialState();
    this.#state = { ...s, routes: { ...s.routes }, listeners: { ...s.listeners } };
    for (const [id, r] of Object.entries(this.#state.routes)) this.#state.routes[id] = this.#store(r);
    for (const l of Object.values(this.#state.listeners)) deepFreeze(l);
    this.#view = view;
    if (view) {
      view.followAll(Object.values(this.#state.routes));
      for (const [id, r] of Object.entries(this.#state.routes)) this.#setEffective(id, r);
    }
    this.index = DesiredIndex.of(this.routes);
  }

  /** The effective routes (what the node plans): the desired routes with the view's changes. */
  get routes(): Readonly<Record<string, Route>> {
    return this.#overlay.size === 0 ? this.#state.routes : { ...this.#state.routes, ...Object.fromEntries(this.#overlay) };
  }

  /**
   * The effective route of `desired` under `id`, recorded in the overlay. An
   * overlay route is stored like a desired one, its list shared by content: a
   * backend drained from a pool gives every route of the pool one list, not one each.
   */
  #setEffective(id: string, desired: Route | undefined): Route | undefined {
    const old = this.#overlay.get(id);
    let effective = desired && this.#view ? this.#view.route(desired) : desired;
    if (effective !== undefined && effective !== desired) this.#overlay.set(id, (effective = this.#store(effective)));
    else this.#overlay.delete(id);
    if (old) this.#lists.release(old); // after the hold above: a list that stays is not dropped and made again
    return effective;
  }

  /** The newest folded desired state. The tracker's own object, folded in place: read it, do not keep or change it. */
  get state(): Readonly<DesiredState> {
    return this.#state;
  }

  /**
   * True when the desired state may differ from what was last marked applied:
   * a commit changed a route or listener, touch() was called, or nothing was
   * marked applied yet.
   */
  get changed(): boolean {
    return this.#changed;
  }

  /** seq of the desired state the maps were last brought to (0: none yet). */
  get appliedSeq(): number {
    return this.#applied?.seq ?? 0;
  }

  get appliedCommit(): string | null {
    return this.#applied?.commit ?? null;
  }

  /**
   * Fold one whole commit (its events, ending with its marker) in place, all
   * or nothing (a seq that does not follow throws RAUTA_ERR_LOG_SEQUENCE and
   * changes nothing). True when it changed a route or listener: an upsert, or
   * the removal of one that was there.
   */
  apply(commit: readonly RautaEvent[]): boolean {
    let changed = false;
    foldEventsInPlace(
      this.#state,
      commit,
      (c: FoldChange) => {
        if (c.kind === 'route') {
          const before = this.#overlay.get(c.id) ?? c.before;
          if (this.#applied && !this.#undoRoutes.has(c.id)) this.#undoRoutes.set(c.id, { ref: c.ref, before });
          if (c.before) this.#lists.release(c.before); // c.after, stored by #store, holds its list already
          this.#view?.follow(c.before, c.after);
          this.index.set(c.ref, this.#setEffective(c.id, c.after));
        } else {
          if (this.#applied && !this.#undoListeners.has(c.id)) this.#undoListeners.set(c.id, c.before);
          if (c.after) deepFreeze(c.after);
        }
        changed ||= c.after !== undefined || c.before !== undefined;
      },
      this.#store,
    );
    if (changed) this.#changed = true;
    return changed;
  }

  /**
   * The effective desired state of these routes changed without a commit
   * (a node-local input such as backend health): the view is asked again and
   * they join the touched scope of the next plan.
   */
  touch(routes: Iterable<RouteRef>): void {
    for (const ref of routes) {
      const id = routeId(ref);
      const before = this.#overlay.get(id) ?? this.#state.routes[id];
      if (this.#applied && !this.#undoRoutes.has(id)) this.#undoRoutes.set(id, { ref: { method: ref.method, path: ref.path }, before });
      this.index.set(ref, this.#setEffective(id, this.#state.routes[id]));
    }
    this.#changed = true;
  }

  /** The maps now hold the newest desired state, with `nexthops` (default: the lookup last applied, for a commit that changed nothing). */
  markApplied(nexthops: NexthopLookup | undefined = this.#applied?.nexthops): void {
    if (nexthops === undefined) throw new Error('markApplied: the first apply must name its nexthop lookup');
    this.#applied = { seq: this.#state.seq, commit: this.#state.commit, nexthops };
    this.#undoRoutes.clear();
    this.#undoListeners.clear();
    this.#changed = false;
  }

  /** What the maps were last brought to (the desired state with the undo record put back; a copy only when they differ), or undefined before the first apply. */
  lastApplied(): AppliedTarget | undefined {
    const applied = this.#applied;
    if (applied === undefined) return undefined;
    const { listeners: nowListeners } = this.#state;
    const now = this.routes;
    let routes: Record<string, Route> = now;
    if (this.#undoRoutes.size > 0) {
      routes = { ...now };
      for (const [id, u] of this.#undoRoutes) {
        if (u.before === undefined) delete routes[id];
        else routes[id] = u.before;
      }
    }
    let listeners: Record<string, Listener> = nowListeners;
    if (this.#undoListeners.size > 0) {
      listeners = { ...nowListeners };
      for (const [id, l] of this.#undoListeners) {
        if (l === undefined) delete listeners[id];
        else listeners[id] = l;
      }
    }
    return { seq: applied.seq, commit: applied.commit, routes, listeners, nexthops: applied.nexthops };
  }

  /**
   * What may differ between the last applied target and the desired state
   * with `nexthops` looked up now: the routes and listeners changed since,
   * and the MACs that moved. Undefined before the first apply (everything may).
   */
  touched(nexthops: NexthopLookup): TouchedScope | undefined {
    if (this.#applied === undefined) return undefined;
    const routes: string[] = [];
    for (const u of this.#undoRoutes.values()) routes.push(routeIdFor(u.ref));
    return { routes, listeners: [...this.#undoListeners.keys()], nexthops: changedMacs(this.#applied.nexthops, nexthops) };
  }
}
