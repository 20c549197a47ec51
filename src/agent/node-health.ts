// Backend health for one node agent: the HealthMonitor following the desired
// routes (the agent's DesiredTracker calls it as its RouteView), the passive
// counters of BACKEND_STATS, and what a change does: a log line naming the
// backend, why, and the routes it leaves or rejoins, then a replan of exactly
// those routes. Backends drained before a restart (weight 0 with their
// address in ROUTES) start unhealthy, so a restart does not send them
// connections before they pass their checks again.
import type { Logger } from 'pino';
import { backendStatsTable } from '../dataplane/backend-stats.js';
import type { RautaMaps } from '../dataplane/maps.js';
import { effectiveRoute } from '../health/effective-routes.js';
import { HealthMonitor, type HealthChange, type HealthMonitorOptions, type TargetReport } from '../health/health-monitor.js';
import { routeKeyId } from '../model/ids.js';
import type { Route } from '../routes/route-model.js';
import type { RouteView } from '../state/desired-tracker.js';
import type { HealthStatus } from './agent-status.js';
import type { ReplanScope } from './scheduler.js';

export interface NodeHealth extends RouteView {
  /** health changes replan through this agent */
  bind(agent: { requestReplan(scope: ReplanScope): void }): void;
  status(): HealthStatus | null;
  /** every check with its state (for /metrics) */
  targets(): TargetReport[];
  stop(): void;
}

export interface NodeHealthOptions {
  maps: Pick<RautaMaps, 'routes' | 'backendStats'>;
  logger: Logger;
  /** HealthMonitorOptions: checks in flight at once (default 32), passive read period (default 250 ms) */
  maxInFlight?: number;
  passiveMs?: number;
  check?: HealthMonitorOptions['check'];
}

/** "routeKeyId ip:port" of every backend ROUTES holds drained (weight 0, address kept). */
function drainedInMaps(maps: Pick<RautaMaps, 'routes'>): string[] {
  const out: string[] = [];
  for (const [key, list] of maps.routes.entries()) {
    for (const b of list.backends) if (b.weight === 0 && b.port !== 0) out.push(`${routeKeyId(key)} ${b.ip}:${b.port}`);
  }
  return out;
}

export function createNodeHealth(opts: NodeHealthOptions): NodeHealth {
  const { logger } = opts;
  let agent: { requestReplan(scope: ReplanScope): void } | null = null;
  const onChange = (changes: HealthChange[]) => {
    const unhealthy = monitor.unhealthy();
    const routes = new Map<string, Route>();
    for (const c of changes) {
      const drained: string[] = [];
      const failOpen: string[] = [];
      for (const r of c.routes) {
        routes.set(r.name, r);
        if (effectiveRoute(r, unhealthy).drain?.failOpen) failOpen.push(r.name);
        else drained.push(r.name);
      }
      const fields = {
        backend: c.target.endpoint,
        check: `:${c.target.checkPort}${c.target.path}`,
        healthy: c.healthy,
        reason: c.reason,
        routes: c.routes.map((r) => r.name),
        failOpen,
      };
      const open = failOpen.length > 0 ? `; every backend of ${failOpen.join(', ')} fails: kept whole (fail open)` : '';
      if (c.healthy)
        logger.info(
          fields,
          `backend ${c.target.endpoint} is healthy again (${fields.check}): ${c.reason}; new connections from ${drained.concat(failOpen).join(', ')} reach it again`,
        );
      else
        logger.warn(
          fields,
          `backend ${c.target.endpoint} is unhealthy (${fields.check}): ${c.reason}; ${drained.length > 0 ? `no new connections from ${drained.join(', ')}` : 'not drained'}${open}`,
        );
    }
    agent?.requestReplan({ routes: [...routes.values()] });
  };
  const monitor = new HealthMonitor({
    onChange,
    stats: backendStatsTable(opts.maps.backendStats),
    onUntracked: (endpoints) =>
      logger.warn(
        { count: endpoints.length, first: endpoints.slice(0, 10) },
        'BACKEND_STATS is full: these backends get active checks only (no passive signal)',
      ),
    ...(opts.maxInFlight !== undefined ? { maxInFlight: opts.maxInFlight } : {}),
    ...(opts.passiveMs !== undefined ? { passiveMs: opts.passiveMs } : {}),
    ...(opts.check ? { check: opts.check } : {}),
  });
  const drained = drainedInMaps(opts.maps);
  if (drained.length > 0) {
    monitor.restore(drained, 'drained before this agent started (ROUTES holds it with weight 0)');
    logger.info({ backends: drained.length }, 'backends drained before this start stay drained until they pass their checks');
  }
  return {
    route: (r) => effectiveRoute(r, monitor.unhealthy()).route,
    followAll(routes) {
      monitor.setRoutes(routes);
      monitor.endRestore();
    },
    follow: (before, after) => monitor.follow(before, after),
    bind(a) {
      agent = a;
    },
    status() {
      const report = monitor.report();
      if (report.length === 0) return null;
      const unhealthy = monitor.unhealthy();
      const failOpen = new Set<string>();
      for (const r of monitor.routes()) if (effectiveRoute(r, unhealthy).drain?.failOpen) failOpen.add(r.name);
      return { checks: report.length, unhealthy: report.filter((t) => !t.healthy), failOpen: [...failOpen].sort() };
    },
    targets: () => monitor.report(),
    stop: () => monitor.stop(),
  };
}
