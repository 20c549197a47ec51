// The normalized route model: what events carry, what fold produces and what
// plan consumes. The YAML document schema (route-schema.ts) transforms into
// these types; nothing else defines a route.
import { z } from 'zod';
import { LIMITS } from '../model/layout.generated.js';
import { prefixBytes, type RouteMatch } from '../model/ids.js';

/** HTTP methods the data path knows, with their code in route_key.method (enum rauta_method, generated from bpf/rauta.h). */
export { METHOD_CODES } from '../model/layout.generated.js';

export const HttpMethod = z.enum(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);
export type HttpMethod = z.infer<typeof HttpMethod>;

/** Where a definition came from, for error messages and `rauta history`. */
export const SourceRef = z.object({
  file: z.string(),
  line: z.number().int().nonnegative(),
});
export type SourceRef = z.infer<typeof SourceRef>;

const ipv4 = z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
const port = z.number().int().min(1).max(65535);

export const Backend = z.object({
  ip: ipv4,
  port,
  weight: z.number().int().min(1).max(65535),
});
export type Backend = z.infer<typeof Backend>;

/**
 * Active health check of each backend of a route (every field resolved; the
 * route file's defaults are in route-schema.ts). A check is an HTTP/1.1 GET of
 * `path` on the backend's address and `port` (the backend's own port when
 * absent); a status of 200-399 within `timeoutSeconds` passes.
 */
export const HealthCheck = z.object({
  path: z.string().min(1).max(LIMITS.MAX_PATH),
  port: port.optional(),
  intervalSeconds: z.number().positive(),
  timeoutSeconds: z.number().positive(),
  healthyThreshold: z.number().int().min(1),
  unhealthyThreshold: z.number().int().min(1),
});
export type HealthCheck = z.infer<typeof HealthCheck>;

/** How a rule's path matches: the whole path, or a prefix on "/" boundaries (Gateway API's names). */
export const PathType = z.enum(['Exact', 'PathPrefix']);
export type PathType = z.infer<typeof PathType>;

/**
 * What a rule matches. An absent field is the widest: any method, an exact
 * path, any host. Absent fields are left out (not null), so a rule that uses
 * none of them is stored as it was before they existed.
 */
export const MatchFields = {
  method: HttpMethod.optional(),
  path: z.string().min(1).max(LIMITS.MAX_PATH),
  pathType: PathType.optional(),
  /** lower case; "*.example.com" is any one label before ".example.com" */
  host: z.string().min(1).max(LIMITS.MAX_HOST).optional(),
};

export const Route = z.object({
  name: z.string().min(1),
  ...MatchFields,
  backends: z.array(Backend).min(1).max(LIMITS.MAX_BACKENDS),
  tableSize: z.number().int().positive(),
  healthCheck: HealthCheck.optional(),
  source: SourceRef,
});
export type Route = z.infer<typeof Route>;

export const Listener = z.object({
  name: z.string().min(1),
  address: ipv4,
  port,
  source: SourceRef,
});
export type Listener = z.infer<typeof Listener>;

/** The match fields of a route, absent ones left out (what RouteRemoved carries). */
export function matchOf(r: RouteMatch): RouteMatch {
  return {
    ...(r.method !== undefined ? { method: r.method } : {}),
    path: r.path,
    ...(r.pathType !== undefined ? { pathType: r.pathType } : {}),
    ...(r.host !== undefined ? { host: r.host } : {}),
  };
}

/**
 * Identity of a rule in the data path, one ROUTES entry each: "GET /api/users",
 * "ANY shop.example.com/cart", "ANY /api prefix" (the prefix without its
 * trailing "/": "/api" and "/api/" are the same rule). Rules with the same id
 * match exactly the same requests. No path has a space, so ids never clash.
 */
export function routeId(m: RouteMatch): string {
  const path = m.pathType === 'PathPrefix' ? `${prefixBytes(m.path) || '/'} prefix` : m.path;
  return `${m.method ?? 'ANY'} ${m.host ?? ''}${path}`;
}

/** Identity of a listener in the data path: one LISTENERS entry per VIP:port. */
export function listenerId(listener: Pick<Listener, 'address' | 'port'>): string {
  return `${listener.address}:${listener.port}`;
}
