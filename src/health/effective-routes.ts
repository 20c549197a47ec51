// Desired routes minus this node's unhealthy backends: what the agent plans
// over. Pure. A drained backend stays in its route with weight 0, so it keeps
// its slot index and gets no Maglev slot (see plan/backend-slots.ts); routes
// with nothing drained come back as the same objects, so a plan scoped to what
// changed touches only the routes a health change drained or restored.
import type { Backend, Route } from '../routes/route-model.js';
import { endpointOf, targetKey } from './check-targets.js';

export interface RouteDrain {
  route: string;
  /** "ip:port" of the backends that get no new connections on this node */
  drained: string[];
  /** every backend failed its check: all are kept (fail open) */
  failOpen: boolean;
}

export interface EffectiveRoutes {
  routes: Route[];
  /** routes with an unhealthy backend, drained or failed open, in input order */
  drains: RouteDrain[];
}

/** `routes` with each backend whose check (a key of `unhealthy`, see targetKey) fails drained. */
export function effectiveRoutes(routes: Iterable<Route>, unhealthy: ReadonlySet<string>): EffectiveRoutes {
  const out: Route[] = [];
  const drains: RouteDrain[] = [];
  for (const route of routes) {
    const hc = route.healthCheck;
    if (!hc || unhealthy.size === 0) {
      out.push(route);
      continue;
    }
    let failing: Backend[] | null = null;
    for (const b of route.backends) if (unhealthy.has(targetKey(b, hc))) (failing ??= []).push(b);
    if (!failing) {
      out.push(route);
      continue;
    }
    const drained = failing.map(endpointOf);
    if (failing.length === route.backends.length) {
      drains.push({ route: route.name, drained, failOpen: true });
      out.push(route);
      continue;
    }
    drains.push({ route: route.name, drained, failOpen: false });
    const gone = new Set(failing);
    out.push({ ...route, backends: route.backends.map((b) => (gone.has(b) ? { ...b, weight: 0 } : b)) });
  }
  return { routes: out, drains };
}
