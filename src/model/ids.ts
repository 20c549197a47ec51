// Canonical string ids for map keys, so plan and applied state can key
// JavaScript Maps by value. The agent builds AppliedState with these.
import { fnv1a64 } from './fnv1a.js';
import type { ListenerKey, MaglevKey, RouteKey } from './map-types.js';
import { HOST_MATCH, METHOD_CODES, PATH_MATCH } from './layout.generated.js';
import type { MethodName } from './map-types.js';

/** "method.pathMatch.hostMatch.hostHash:pathHash", e.g. "1.0.0.0:12638187200555641996" */
export function routeKeyId(key: RouteKey): string {
  return `${key.method}.${key.pathMatch}.${key.hostMatch}.${key.hostHash}:${key.pathHash}`;
}

/** routeKeyId + ":gen" */
export function maglevKeyId(key: MaglevKey): string {
  return `${routeKeyId(key.route)}:${key.gen}`;
}

/** "addr:port" */
export function listenerKeyId(key: ListenerKey): string {
  return `${key.addr}:${key.port}`;
}

/** NEXTHOPS is keyed by the backend IPv4 itself. */
export function nexthopKeyId(ip: string): string {
  return ip;
}

/**
 * What a rule matches, as the data path keys it: the method (absent: any),
 * the path, exact or a prefix on element boundaries, and the host (absent:
 * any; "*.example.com": any one label before ".example.com"). Route has
 * these fields; host names are lower case already (the route schema folds them).
 */
export interface RouteMatch {
  method?: MethodName | undefined;
  path: string;
  pathType?: 'Exact' | 'PathPrefix' | undefined;
  host?: string | undefined;
}

/** The bytes a prefix is hashed as: no trailing "/" ("/api/" is "/api", "/" is ""), so "/api" matches "/api", "/api/" and "/api/v1" alike. */
export function prefixBytes(prefix: string): string {
  return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

// Paths and hosts repeat across plans (every plan keys every desired route),
// and the BigInt FNV plus its decimal string cost ~1 µs each: remember both.
const hashes = new Map<string, { hash: bigint; text: string }>();
function hashed(bytes: string): { hash: bigint; text: string } {
  let h = hashes.get(bytes);
  if (h === undefined) {
    if (hashes.size >= 262_144) hashes.clear();
    const hash = fnv1a64(bytes);
    h = { hash, text: hash.toString() };
    hashes.set(bytes, h);
  }
  return h;
}

export function pathHash(path: string): bigint {
  return hashed(path).hash;
}

/** route_key.host_match and host_hash of a rule's host: the name itself, or a wildcard's suffix from its dot. */
function hostPart(host: string | undefined): { match: number; hash: { hash: bigint; text: string } } {
  if (host === undefined) return { match: HOST_MATCH.ANY, hash: { hash: 0n, text: '0' } };
  if (host.startsWith('*.')) return { match: HOST_MATCH.WILDCARD, hash: hashed(host.slice(1)) };
  return { match: HOST_MATCH.EXACT, hash: hashed(host) };
}

function keyParts(m: RouteMatch): { key: RouteKey; id: string } {
  const method = m.method === undefined ? 0 : METHOD_CODES[m.method];
  const prefix = m.pathType === 'PathPrefix';
  const path = hashed(prefix ? prefixBytes(m.path) : m.path);
  const host = hostPart(m.host);
  const pathMatch = prefix ? PATH_MATCH.PREFIX : PATH_MATCH.EXACT;
  return {
    key: { method, pathMatch, hostMatch: host.match, pathHash: path.hash, hostHash: host.hash.hash },
    id: `${method}.${pathMatch}.${host.match}.${host.hash.text}:${path.text}`,
  };
}

/** The ROUTES key of a rule. */
export function routeKeyFor(match: RouteMatch): RouteKey {
  return keyParts(match).key;
}

/** The ROUTES key of an exact path with a method and any host (the common case in tests and tools). */
export function routeKeyOf(method: MethodName, path: string): RouteKey {
  return keyParts({ method, path }).key;
}

/** routeKeyId(routeKeyFor(match)), remembered for a frozen route. */
export function routeIdFor(match: RouteMatch): string {
  return routeKeyAndId(match).id;
}

export interface RouteIdentity {
  key: RouteKey;
  id: string;
  /** maglevKeyId for `gen`, remembered for the last gen asked (re-plans ask the same one) */
  tableId(gen: number): string;
}

// A frozen route (immer's desired state is deep-frozen) cannot change, so its
// key and ids are computed once and found by object identity on every re-plan.
// A class, not a closure: the agent keeps one per desired route.
const identities = new WeakMap<object, RouteIdentity>();

class KnownRoute implements RouteIdentity {
  #lastGen = -1;
  #lastTableId = '';

  constructor(
    readonly key: RouteKey,
    readonly id: string,
  ) {}

  tableId(gen: number): string {
    if (gen !== this.#lastGen) [this.#lastGen, this.#lastTableId] = [gen, `${this.id}:${gen}`];
    return this.#lastTableId;
  }
}

/** Key and ids of a route at once. */
export function routeKeyAndId(match: RouteMatch): RouteIdentity {
  const known = identities.get(match);
  if (known) return known;
  const { key, id } = keyParts(match);
  const identity = new KnownRoute(key, id);
  if (Object.isFrozen(match)) identities.set(match, identity);
  return identity;
}

const METHOD_NAMES = new Map<number, string>(Object.entries(METHOD_CODES).map(([name, code]) => [code, name]));
/** "GET" for 1; "method 9" for a code the data path does not know. */
export function methodName(code: number): string {
  return METHOD_NAMES.get(code) ?? `method ${code}`;
}
