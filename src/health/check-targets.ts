// Which health checks a node runs: one per distinct (backend, check port,
// path), however many routes share it. Pure.
import type { Backend, HealthCheck, Route } from '../routes/route-model.js';

export interface CheckTarget {
  /** "ip:port port/path": the backend, then where its check goes */
  key: string;
  /** the backend's "ip:port" (what the data path sends connections to) */
  endpoint: string;
  ip: string;
  /** the backend's own port */
  backendPort: number;
  /** the port the check connects to */
  checkPort: number;
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** names of the routes whose check this is, sorted */
  routes: string[];
}

export function endpointOf(b: Pick<Backend, 'ip' | 'port'>): string {
  return `${b.ip}:${b.port}`;
}

/** The check of backend `b` of a route with health check `hc`. */
export function targetKey(b: Pick<Backend, 'ip' | 'port'>, hc: Pick<HealthCheck, 'port' | 'path'>): string {
  return `${b.ip}:${b.port} ${hc.port ?? b.port}${hc.path}`;
}

/**
 * Every check the routes ask for. Routes that share a check merge their
 * settings the strict way: the shortest interval and timeout, the smallest
 * unhealthyThreshold and the largest healthyThreshold.
 */
export function checkTargets(routes: Iterable<Route>): Map<string, CheckTarget> {
  const out = new Map<string, CheckTarget>();
  for (const route of routes) {
    const hc = route.healthCheck;
    if (!hc) continue;
    for (const b of route.backends) {
      const key = targetKey(b, hc);
      const t = out.get(key);
      if (!t) {
        out.set(key, {
          key,
          endpoint: endpointOf(b),
          ip: b.ip,
          backendPort: b.port,
          checkPort: hc.port ?? b.port,
          path: hc.path,
          intervalMs: Math.round(hc.intervalSeconds * 1000),
          timeoutMs: Math.round(hc.timeoutSeconds * 1000),
          healthyThreshold: hc.healthyThreshold,
          unhealthyThreshold: hc.unhealthyThreshold,
          routes: [route.name],
        });
        continue;
      }
      t.intervalMs = Math.min(t.intervalMs, Math.round(hc.intervalSeconds * 1000));
      t.timeoutMs = Math.min(t.timeoutMs, Math.round(hc.timeoutSeconds * 1000));
      t.unhealthyThreshold = Math.min(t.unhealthyThreshold, hc.unhealthyThreshold);
      t.healthyThreshold = Math.max(t.healthyThreshold, hc.healthyThreshold);
      t.routes.push(route.name);
    }
  }
  for (const t of out.values()) t.routes.sort();
  return out;
}

/** Same check, same settings: a running checker for `a` can go on as `b`. */
export function sameTarget(a: CheckTarget, b: CheckTarget): boolean {
  return (
    a.key === b.key &&
    a.intervalMs === b.intervalMs &&
    a.timeoutMs === b.timeoutMs &&
    a.healthyThreshold === b.healthyThreshold &&
    a.unhealthyThreshold === b.unhealthyThreshold
  );
}
