// The rules a request can match, in the order the data path tries them
// (bpf/rauta.bpf.c rauta_match_route): exact host, wildcard host, any host;
// within each, the exact path, then prefixes longest first; within each, the
// request's method, then any method. Pure. Tools use it to name the rule a
// request matched (the maps hold only hashes) and which rule a new one shadows.
import { LIMITS } from './layout.generated.js';
import { prefixBytes, routeIdFor, type RouteMatch } from './ids.js';
import type { MethodName } from './map-types.js';

export interface RequestMatch {
  /** absent: a method no rule names, so only any-method rules match */
  method?: MethodName | undefined;
  /** the request target; a query string is ignored */
  path: string;
  /** the Host header's value; absent: no Host header */
  host?: string | undefined;
}

/** The host as the data path compares it: lower case, without a port. */
export function requestHost(host: string): string {
  const colon = host.indexOf(':');
  return (colon >= 0 ? host.slice(0, colon) : host).trim().toLowerCase();
}

/** Every rule that would match the request, most specific first. */
export function candidateRules(req: RequestMatch): RouteMatch[] {
  const path = req.path.split('?', 1)[0] ?? req.path;
  const host = req.host === undefined ? '' : requestHost(req.host);
  const hosts: Array<string | undefined> = [];
  if (host !== '') {
    hosts.push(host);
    const dot = host.indexOf('.');
    if (dot >= 0) hosts.push(`*${host.slice(dot)}`);
  }
  hosts.push(undefined);
  // "/" positions: prefix d is the path before the (d+1)-th "/"; the whole path is prefix `segments` unless it ends with "/"
  const slashes: number[] = [];
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) slashes.push(i);
  const prefixes: string[] = [];
  for (let d = LIMITS.MAX_PREFIX_DEPTH; d >= 0; d--) {
    if (d < slashes.length) prefixes.push(path.slice(0, slashes[d]) || '/');
    else if (d === slashes.length && !path.endsWith('/')) prefixes.push(path);
  }
  const methods: Array<MethodName | undefined> = req.method === undefined ? [undefined] : [req.method, undefined];
  const out: RouteMatch[] = [];
  for (const h of hosts) {
    for (const m of methods) out.push({ method: m, path, host: h });
    for (const p of prefixes) for (const m of methods) out.push({ method: m, path: p, pathType: 'PathPrefix', host: h });
  }
  return out;
}

/** The rule among `rules` the request matches, or null. `rules` maps routeIdFor ids to anything. */
export function matchRequest<T>(req: RequestMatch, rules: ReadonlyMap<string, T>): T | null {
  for (const c of candidateRules(req)) {
    const r = rules.get(routeIdFor(c));
    if (r !== undefined) return r;
  }
  return null;
}

/** A request only `rule` (and rules more specific than it) would match first: its own path, host and method. */
export function sampleRequest(rule: RouteMatch): RequestMatch {
  const path = rule.pathType === 'PathPrefix' ? prefixBytes(rule.path) || '/' : rule.path;
  const host = rule.host?.startsWith('*.') ? `x${rule.host.slice(1)}` : rule.host;
  return { method: rule.method, path, host };
}

/**
 * The rule that `rule` takes requests from: the one its own requests would
 * reach without it (the next candidate after it). Null when none would.
 */
export function shadowedBy<T>(rule: RouteMatch, rules: ReadonlyMap<string, T>): T | null {
  const own = routeIdFor(rule);
  const list = candidateRules(sampleRequest(rule));
  const at = list.findIndex((c) => routeIdFor(c) === own);
  for (const c of list.slice(at + 1)) {
    const r = rules.get(routeIdFor(c));
    if (r !== undefined) return r;
  }
  return null;
}
