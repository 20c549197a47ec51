// Which health checks a node runs: one per distinct (backend, check port,
// path), however many routes share it. Pure.
import type { Backend, HealthCheck, Route } from '../routes/route-model.js';

/** Where one check goes. */
export interface CheckTarget {
  /** "ip:port port/path": the backend, then where its check goes */
  key: string;
  /** the backend's "ip:port" (what the data path sends connections to) */
  endpoint: string;
  ip: string;
  /** the port the check connects to */
  checkPort: number;
  path: string;
}

/** How often and how strictly one target is checked. */
export interface CheckSettings {
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export function endpointOf(b: Pick<Backend, 'ip' | 'port'>): string {
  return `${b.ip}:${b.port}`;
}

/** The check of backend `b` of a route with health check `hc`. */
export function targetKey(b: Pick<Backend, 'ip' | 'port'>, hc: Pick<HealthCheck, 'port' | 'path'>): string {
  return `${b.ip}:${b.port} ${hc.port ?? b.port}${hc.path}`;
}

/** The checks one route asks for (none without a healthCheck), with its settings. */
export function routeTargets(route: Route): Array<{ target: CheckTarget; settings: CheckSettings }> {
  const hc = route.healthCheck;
  if (!hc) return [];
  const settings: CheckSettings = {
    intervalMs: Math.round(hc.intervalSeconds * 1000),
    timeoutMs: Math.round(hc.timeoutSeconds * 1000),
    healthyThreshold: hc.healthyThreshold,
    unhealthyThreshold: hc.unhealthyThreshold,
  };
  return route.backends.map((b) => ({
    target: { key: targetKey(b, hc), endpoint: endpointOf(b), ip: b.ip, checkPort: hc.port ?? b.port, path: hc.path },
    settings,
  }));
}

/**
 * The settings of a target several routes share, merged the strict way: the
 * shortest interval and timeout, the smallest unhealthyThreshold and the
 * largest healthyThreshold.
 */
export function mergeSettings(all: Iterable<CheckSettings>): CheckSettings | null {
  let out: CheckSettings | null = null;
  for (const s of all) {
    out = out
      ? {
          intervalMs: Math.min(out.intervalMs, s.intervalMs),
          timeoutMs: Math.min(out.timeoutMs, s.timeoutMs),
          healthyThreshold: Math.max(out.healthyThreshold, s.healthyThreshold),
          unhealthyThreshold: Math.min(out.unhealthyThreshold, s.unhealthyThreshold),
        }
      : { ...s };
  }
  return out;
}

export function sameSettings(a: CheckSettings, b: CheckSettings): boolean {
  return (
    a.intervalMs === b.intervalMs && a.timeoutMs === b.timeoutMs && a.healthyThreshold === b.healthyThreshold && a.unhealthyThreshold === b.unhealthyThreshold
  );
}
