// Capacity is part of validity: a route set the node's maps cannot hold would
// pass validation and then fail every apply (E2BIG) until someone reverts. The
// limits are the max entries the agents load their maps with: the defaults are
// the sizes in bpf/rauta.h, and --max-routes / --max-listeners / --max-nexthops
// raise them (on the watcher and the agents alike). Pure.
import type { ValidationIssue } from './issues.js';
import { RautaError } from '../errors.js';
import { LIMITS } from '../model/layout.generated.js';
import type { Listener, Route, SourceRef } from './route-model.js';

export interface Capacity {
  /** ROUTES entries: one per rule; MAGLEV_TABLES gets twice this (two generations per route) */
  routes: number;
  /** LISTENERS entries: one per VIP:port */
  listeners: number;
  /** NEXTHOPS entries: one per distinct backend IPv4 address */
  nexthops: number;
}

/** RAUTA_MAX_ROUTES, RAUTA_MAX_LISTENERS and RAUTA_MAX_NEXTHOPS in bpf/rauta.h. */
export const DEFAULT_CAPACITY: Readonly<Capacity> = { routes: LIMITS.MAX_ROUTES, listeners: LIMITS.MAX_LISTENERS, nexthops: LIMITS.MAX_NEXTHOPS };

/** Largest value a --max-* option takes: 2 × routes Maglev tables of 4 KiB each must stay allocatable. */
const MAX_OPTION = 1 << 20;

/** The max entries a node loads its maps with for `capacity` (RAUTA_MAX_TABLES = 2 × RAUTA_MAX_ROUTES). */
export function mapMaxEntries(capacity: Capacity): { routes: number; maglev_tables: number; listeners: number; nexthops: number } {
  return { routes: capacity.routes, maglev_tables: 2 * capacity.routes, listeners: capacity.listeners, nexthops: capacity.nexthops };
}

/** --max-routes, --max-listeners, --max-nexthops as commander hands them over. */
export interface CapacityOptions {
  maxRoutes?: string;
  maxListeners?: string;
  maxNexthops?: string;
}

/** The --max-* options to a Capacity (defaults for those not given); a bad value is a usage error naming the option. */
export function parseCapacity(opts: CapacityOptions): Capacity {
  const one = (value: string | undefined, flag: string, fallback: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^[0-9]+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1 || n > MAX_OPTION) {
      throw new RautaError('RAUTA_ERR_USAGE', `${flag} ${value}: give a whole number from 1 to ${MAX_OPTION}`);
    }
    return n;
  };
  return {
    routes: one(opts.maxRoutes, '--max-routes', DEFAULT_CAPACITY.routes),
    listeners: one(opts.maxListeners, '--max-listeners', DEFAULT_CAPACITY.listeners),
    nexthops: one(opts.maxNexthops, '--max-nexthops', DEFAULT_CAPACITY.nexthops),
  };
}

/** What a route set needs of the maps. */
export interface CapacityNeed {
  routes: number;
  listeners: number;
  /** distinct backend IPv4 addresses */
  nexthops: number;
  /** where to point each issue: the first definition past the limit, or one the commit added */
  at: { routes?: SourceRef; listeners?: SourceRef; nexthops?: SourceRef };
}

/** The need of a whole route set, with each issue at the first definition past its limit (in the set's order). */
export function capacityNeed(routes: readonly Route[], listeners: readonly Listener[], capacity: Capacity): CapacityNeed {
  const ips = new Set<string>();
  let nexthopAt: SourceRef | undefined;
  for (const r of routes) {
    for (const b of r.backends) {
      if (ips.has(b.ip)) continue;
      ips.add(b.ip);
      if (ips.size === capacity.nexthops + 1) nexthopAt = r.source;
    }
  }
  return {
    routes: routes.length,
    listeners: listeners.length,
    nexthops: ips.size,
    at: { routes: routes[capacity.routes]?.source, listeners: listeners[capacity.listeners]?.source, nexthops: nexthopAt },
  };
}

const OPTION = { routes: '--max-routes', listeners: '--max-listeners', nexthops: '--max-nexthops' } as const;
const WHAT = {
  routes: ['rules (one ROUTES entry per method and path)', 'ROUTES'],
  listeners: ['listeners (one LISTENERS entry per address:port)', 'LISTENERS'],
  nexthops: ['distinct backend addresses (one NEXTHOPS entry each)', 'NEXTHOPS'],
} as const;

/** One issue per map the need exceeds, naming the count, the limit and how to raise it. */
export function capacityIssues(need: CapacityNeed, capacity: Capacity): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const kind of ['routes', 'listeners', 'nexthops'] as const) {
    if (need[kind] <= capacity[kind]) continue;
    const at = need.at[kind] ?? { file: '(route set)', line: 1 };
    const [what, map] = WHAT[kind];
    issues.push({
      file: at.file,
      line: at.line,
      col: 1,
      message:
        `the route set has ${need[kind]} ${what}, over the capacity of ${capacity[kind]} ` +
        `(${map} max entries); remove ${need[kind] - capacity[kind]}, or raise ${OPTION[kind]} on the watcher and every agent`,
    });
  }
  return issues;
}
