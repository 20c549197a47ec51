// Desired routes minus this node's unhealthy backends: what the agent plans
// over. Pure. A drained backend stays in its route with weight 0, so it keeps
// its slot index and gets no Maglev slot (see plan/backend-slots.ts); a route
// with nothing drained comes back as the same object, so a plan scoped to what
// changed touches only the routes a health change drained or restored.
import type { Backend, Route } from '../routes/route-model.js';
import { endpointOf, targetKey } from './check-targets.js';

export interface RouteDrain {
  route: string;
  /** "ip:port" of the backends whose check fails */
  drained: string[];
  /** every backend failed its check: all are kept (fail open) */
  failOpen: boolean;
}

/** The route this node plans for `route`, and what health did to it (null: nothing). */
export function effectiveRoute(route: Route, unhealthy: ReadonlySet<string>): { route: Route; drain: RouteDrain | null } {
  const hc = route.healthCheck;
  if (!hc || unhealthy.size === 0) return { route, drain: null };
  let failing: Backend[] | null = null;
  for (const b of route.backends) if (unhealthy.has(targetKey(b, hc))) (failing ??= []).push(b);
  if (!failing) return { route, drain: null };
  const drained = failing.map(endpointOf);
  if (failing.length === route.backends.length) return { route, drain: { route: route.name, drained, failOpen: true } };
  const gone = new Set(failing);
  return {
    route: { ...route, backends: route.backends.map((b) => (gone.has(b) ? { ...b, weight: 0 } : b)) },
    drain: { route: route.name, drained, failOpen: false },
  };
}

/** effectiveRoute over many routes: the routes to plan and the drains, in input order. */
export function effectiveRoutes(routes: Iterable<Route>, unhealthy: ReadonlySet<string>): { routes: Route[]; drains: RouteDrain[] } {
  const out: Route[] = [];
  const drains: RouteDrain[] = [];
  for (const r of routes) {
    const e = effectiveRoute(r, unhealthy);
    out.push(e.route);
    if (e.drain) drains.push(e.drain);
  }
  return { routes: out, drains };
}
