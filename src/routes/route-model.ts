// The normalized route model: what events carry, what fold produces and what
// plan consumes. The YAML document schema (route-schema.ts) transforms into
// these types; nothing else defines a route.
import { z } from 'zod';
import { LIMITS } from '../model/layout.generated.js';

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

export const Route = z.object({
  name: z.string().min(1),
  method: HttpMethod,
  path: z.string().min(1).max(LIMITS.MAX_PATH),
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

/** Identity of a route in the data path: one ROUTES entry per (method, path). */
export function routeId(route: Pick<Route, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}

/** Identity of a listener in the data path: one LISTENERS entry per VIP:port. */
export function listenerId(listener: Pick<Listener, 'address' | 'port'>): string {
  return `${listener.address}:${listener.port}`;
}
