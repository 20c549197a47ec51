// ROUTE_SHAPES (bpf/rauta.h struct route_shapes): which kinds of ROUTES keys
// exist, per host match, so the data path looks up only keys some route could
// have. Pure. The plan writes the shapes of the desired routes; a bit set
// before its routes appear and cleared after they are gone keeps every route
// findable at every step of an apply.
import { LIMITS, PATH_MATCH } from './layout.generated.js';
import type { RouteKey, RouteShapes } from './map-types.js';
import { prefixBytes } from './ids.js';

/** What one ROUTES key adds to the shapes: its host match, exact or prefix depth, one method or any. */
export interface ShapeUse {
  host: number;
  /** -1: exact path; d >= 0: a prefix of d segments */
  depth: number;
  anyMethod: boolean;
}

export function emptyShapes(): RouteShapes {
  return [
    { prefixes: 0, exact: false, methods: 0 },
    { prefixes: 0, exact: false, methods: 0 },
    { prefixes: 0, exact: false, methods: 0 },
  ];
}

/** Every kind of key: the data path tries every candidate (for tools and tests that write ROUTES by hand). */
export function everyShape(): RouteShapes {
  const all = { prefixes: 2 ** (LIMITS.MAX_PREFIX_DEPTH + 1) - 1, exact: true, methods: 3 };
  return [{ ...all }, { ...all }, { ...all }];
}

/** Segments of a prefix path as the data path counts them: the "/"s of the prefix without a trailing one ("/" is 0, "/a/b" 2). */
export function prefixDepth(prefix: string): number {
  const p = prefixBytes(prefix);
  let n = 0;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) === 47) n++;
  return n;
}

/** The shape a key with this path (the prefix for a prefix key) gives. */
export function shapeOf(key: RouteKey, path: string): ShapeUse {
  return { host: key.hostMatch, depth: key.pathMatch === PATH_MATCH.PREFIX ? prefixDepth(path) : -1, anyMethod: key.method === 0 };
}

/** Shapes kept as counts, so routes can come and go one at a time. */
export class ShapeCounts {
  readonly #counts = new Map<string, number>();

  add(use: ShapeUse, by: 1 | -1): void {
    const id = `${use.host}.${use.depth}.${use.anyMethod ? 1 : 0}`;
    const n = (this.#counts.get(id) ?? 0) + by;
    if (n > 0) this.#counts.set(id, n);
    else this.#counts.delete(id);
  }

  shapes(): RouteShapes {
    const out = emptyShapes();
    for (const id of this.#counts.keys()) {
      const [host, depth, any] = id.split('.').map(Number) as [number, number, number];
      const s = out[host]!;
      if (depth < 0) s.exact = true;
      else s.prefixes |= 1 << depth;
      s.methods |= any ? 2 : 1;
    }
    return out;
  }
}

export function sameShapes(a: RouteShapes, b: RouteShapes): boolean {
  return a.every((s, i) => s.prefixes === b[i]!.prefixes && s.exact === b[i]!.exact && s.methods === b[i]!.methods);
}

/** Every bit of either: what must be set while routes of both are in the maps. */
export function unionShapes(a: RouteShapes, b: RouteShapes): RouteShapes {
  return a.map((s, i) => ({ prefixes: s.prefixes | b[i]!.prefixes, exact: s.exact || b[i]!.exact, methods: s.methods | b[i]!.methods })) as RouteShapes;
}
