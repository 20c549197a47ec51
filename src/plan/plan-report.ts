// The plan as a reviewer reads it: per route the backends added, removed and
// reweighted, the map operations and the share of connections that move, from
// two route sets (the `from` side a node has, the `to` side it will get). Pure:
// `rauta plan` loads the sides, this plans them with the real planner.
import { emptyAppliedState, planChanges, routeIdFor, simulateApply, type Plan, type PlanSummary, type RoutePlan } from './plan.js';
import type { ValidationIssue } from '../routes/issues.js';
import { listenerId, routeId, type Listener, type Route } from '../routes/route-model.js';
import { shadowedBy } from '../model/route-match.js';

export interface RouteSide {
  /** "HEAD", "main~1", or "worktree" */
  label: string;
  commit: string | null;
  routes: Route[];
  listeners: Listener[];
  issues: ValidationIssue[];
}

export interface RouteImpact {
  change: RoutePlan['change'];
  /** "GET /api/products" */
  route: string;
  name: string | null;
  /** where the `to` side defines it (the `from` side for a removed route) */
  source: string | null;
  backendsAdded: string[];
  backendsRemoved: string[];
  backendsChanged: RoutePlan['backendsChanged'];
  ops: number;
  /** 0..1: share of the route's Maglev slots whose backend changes */
  disruption: number;
  /**
   * For an added rule, the rule its requests went to before (it takes them
   * from it); for a removed one, the rule they go to now. Null when no rule
   * would serve them (or for a changed rule).
   */
  shadows: { route: string; name: string; source: string } | null;
}

export interface PlanReport {
  from: { label: string; commit: string | null };
  to: { label: string; commit: string | null };
  changed: boolean;
  ops: number;
  routes: RouteImpact[];
  listenersAdded: string[];
  listenersRemoved: string[];
  summary: PlanSummary;
}

// The plan is about routes, not a node: every backend IP gets a stand-in MAC so
// new and retired backends show as nexthop writes, as they would on a node.
function standInMacs(routes: readonly Route[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of routes) for (const b of r.backends) out[b.ip] = '02:00:00:00:00:01';
  return out;
}

/** Pure: the map changes that take a node from the `from` route set to the `to` route set. */
export function planRouteSets(from: Pick<RouteSide, 'routes' | 'listeners'>, to: Pick<RouteSide, 'routes' | 'listeners'>): Plan {
  const base = { routes: from.routes, listeners: from.listeners, nexthops: standInMacs(from.routes) };
  const fromPlan = planChanges(emptyAppliedState(), base);
  const applied = simulateApply(emptyAppliedState(), fromPlan.ops);
  return planChanges(applied, { routes: to.routes, listeners: to.listeners, nexthops: standInMacs(to.routes) });
}

/** Pure: the plan as a reviewer reads it, with names and sources for removed routes too. */
export function planReport(from: RouteSide, to: RouteSide): PlanReport {
  const plan = planRouteSets(from, to);
  const fromById = new Map(from.routes.map((r) => [routeIdFor(r), r]));
  const toById = new Map(to.routes.map((r) => [routeIdFor(r), r]));
  const other = (r: Route | undefined, side: ReadonlyMap<string, Route>): RouteImpact['shadows'] => {
    const s = r ? shadowedBy(r, side) : null;
    return s ? { route: routeId(s), name: s.name, source: `${s.source.file}:${s.source.line}` } : null;
  };
  const routes: RouteImpact[] = plan.routes.map((p) => {
    const known = p.name === null ? fromById.get(p.id) : undefined;
    const toRoute = toById.get(p.id);
    const src = toRoute ?? known;
    return {
      change: p.change,
      route: p.rule ?? (known ? routeId(known) : `${p.method} (key ${p.id})`),
      name: p.name ?? known?.name ?? null,
      source: src ? `${src.source.file}:${src.source.line}` : null,
      backendsAdded: p.backendsAdded,
      backendsRemoved: p.backendsRemoved,
      backendsChanged: p.backendsChanged,
      ops: p.ops,
      disruption: p.disruption,
      shadows: p.change === 'added' ? other(toRoute, fromById) : p.change === 'removed' ? other(known, toById) : null,
    };
  });
  const order = { removed: 0, changed: 1, added: 2, repaired: 3, resynced: 4 } as const;
  routes.sort((a, b) => order[a.change] - order[b.change] || (a.route < b.route ? -1 : a.route > b.route ? 1 : 0));
  const fromL = new Set(from.listeners.map(listenerId));
  const toL = new Set(to.listeners.map(listenerId));
  return {
    from: { label: from.label, commit: from.commit },
    to: { label: to.label, commit: to.commit },
    changed: plan.ops.length > 0,
    ops: plan.ops.length,
    routes,
    listenersAdded: [...toL].filter((l) => !fromL.has(l)).sort(),
    listenersRemoved: [...fromL].filter((l) => !toL.has(l)).sort(),
    summary: plan.summary,
  };
}
