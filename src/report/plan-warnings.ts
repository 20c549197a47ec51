// What in a plan needs a human before it merges: a route left with one
// backend, a route whose connections mostly move, a map close to its capacity,
// a listener that stops answering. Pure; the markdown comment lists them.
import { capacityNeed, type Capacity } from '../routes/capacity.js';
import { routeId, type Listener, type Route } from '../routes/route-model.js';
import type { PlanReport } from '../plan/plan-report.js';

/** A map this full (after the change) is worth a look: the next pull request may not fit. */
export const CAPACITY_WARN_SHARE = 0.9;

export type PlanWarning =
  | { kind: 'last-backend'; route: string; name: string | null; backendsBefore: number; backend: string }
  | { kind: 'disruption'; route: string; name: string | null; disruption: number; threshold: number }
  | { kind: 'capacity'; map: 'ROUTES' | 'LISTENERS' | 'NEXTHOPS'; option: string; before: number; after: number; limit: number }
  | { kind: 'listener-removed'; listener: string }
  | { kind: 'shadows'; route: string; name: string | null; shadowed: string; shadowedName: string; source: string };

export interface RouteSets {
  routes: readonly Route[];
  listeners: readonly Listener[];
}

/**
 * The warnings of `report` (planned from `from` to `to`). `warnDisruption` is
 * a share (0.5 = 50%): a changed route moving more than that of its
 * connections is named. Order: routes in the report's order, then listeners,
 * then capacity.
 */
export function planWarnings(report: PlanReport, from: RouteSets, to: RouteSets, capacity: Capacity, warnDisruption: number): PlanWarning[] {
  const backendsOf = (set: RouteSets) => new Map(set.routes.map((r) => [routeId(r), r.backends]));
  const before = backendsOf(from);
  const after = backendsOf(to);
  const out: PlanWarning[] = [];
  for (const r of report.routes) {
    if (r.change === 'added' && r.shadows)
      out.push({ kind: 'shadows', route: r.route, name: r.name, shadowed: r.shadows.route, shadowedName: r.shadows.name, source: r.shadows.source });
    if (r.change === 'added' || r.change === 'removed') continue;
    const at = { route: r.route, name: r.name };
    const was = before.get(r.route)?.length ?? 0;
    const now = after.get(r.route) ?? [];
    if (was > 1 && now.length === 1) out.push({ kind: 'last-backend', ...at, backendsBefore: was, backend: `${now[0]!.ip}:${now[0]!.port}` });
    if (r.disruption > warnDisruption) out.push({ kind: 'disruption', ...at, disruption: r.disruption, threshold: warnDisruption });
  }
  for (const listener of report.listenersRemoved) out.push({ kind: 'listener-removed', listener });
  const needBefore = capacityNeed(from.routes, from.listeners, capacity);
  const needAfter = capacityNeed(to.routes, to.listeners, capacity);
  const maps = [
    ['ROUTES', 'routes', '--max-routes'],
    ['LISTENERS', 'listeners', '--max-listeners'],
    ['NEXTHOPS', 'nexthops', '--max-nexthops'],
  ] as const;
  for (const [map, kind, option] of maps) {
    if (needAfter[kind] >= CAPACITY_WARN_SHARE * capacity[kind]) {
      out.push({ kind: 'capacity', map, option, before: needBefore[kind], after: needAfter[kind], limit: capacity[kind] });
    }
  }
  return out;
}
