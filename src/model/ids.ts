// Canonical string ids for map keys, so plan and applied state can key
// JavaScript Maps by value. The agent builds AppliedState with these.
import { fnv1a64 } from './fnv1a.js';
import type { ListenerKey, MaglevKey, RouteKey } from './map-types.js';
import { METHOD_CODES } from './layout.generated.js';
import type { MethodName } from './map-types.js';

/** "method:pathHash", e.g. "1:12638187200555641996" */
export function routeKeyId(key: RouteKey): string {
  return `${key.method}:${key.pathHash}`;
}

/** "method:pathHash:gen" */
export function maglevKeyId(key: MaglevKey): string {
  return `${key.route.method}:${key.route.pathHash}:${key.gen}`;
}

/** "addr:port" */
export function listenerKeyId(key: ListenerKey): string {
  return `${key.addr}:${key.port}`;
}

/** NEXTHOPS is keyed by the backend IPv4 itself. */
export function nexthopKeyId(ip: string): string {
  return ip;
}

// Paths repeat across plans (every plan hashes every desired route), and the
// BigInt FNV plus its decimal string cost ~1 µs per path: remember both.
const pathHashes = new Map<string, { hash: bigint; text: string }>();
function hashed(path: string): { hash: bigint; text: string } {
  let h = pathHashes.get(path);
  if (h === undefined) {
    if (pathHashes.size >= 262_144) pathHashes.clear();
    const hash = fnv1a64(path);
    h = { hash, text: hash.toString() };
    pathHashes.set(path, h);
  }
  return h;
}

export function pathHash(path: string): bigint {
  return hashed(path).hash;
}

/** The ROUTES key of a route: method code and FNV-1a 64 of the path. */
export function routeKeyOf(method: MethodName, path: string): RouteKey {
  return { method: METHOD_CODES[method], pathHash: hashed(path).hash };
}

/** routeKeyId(routeKeyOf(method, path)) without converting the hash again. */
export function routeIdFor(route: { method: MethodName; path: string }): string {
  return `${METHOD_CODES[route.method]}:${hashed(route.path).text}`;
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
export function routeKeyAndId(route: { method: MethodName; path: string }): RouteIdentity {
  const known = identities.get(route);
  if (known) return known;
  const h = hashed(route.path);
  const method = METHOD_CODES[route.method];
  const identity = new KnownRoute({ method, pathHash: h.hash }, `${method}:${h.text}`);
  if (Object.isFrozen(route)) identities.set(route, identity);
  return identity;
}

const METHOD_NAMES = new Map<number, string>(Object.entries(METHOD_CODES).map(([name, code]) => [code, name]));
/** "GET" for 1; "method 9" for a code the data path does not know. */
export function methodName(code: number): string {
  return METHOD_NAMES.get(code) ?? `method ${code}`;
}
