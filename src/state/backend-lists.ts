// Backend lists shared by content. Routes of one service carry the same
// backend list, and each event decodes its own copy: at 65,536 routes × 32
// backends the copies were ~2.8 KB a route, most of the desired state. The
// DesiredTracker stores every route it folds with its list swapped for the
// one frozen list of that content, counted per route that holds it, and
// releases it when the route goes. Sharing changes no value (a list is equal
// to the one it replaces) and lets the planner's identity-keyed caches hit.
// Pure.
import { hashBackends } from '../model/maglev.js';
import type { Backend, Route } from '../routes/route-model.js';

interface Shared {
  list: readonly Backend[];
  /** routes stored with this list */
  holders: number;
}

/** Two backend lists (or map slot lists) with the same ip, port and weight at every position. */
export function sameBackends(a: readonly Pick<Backend, 'ip' | 'port' | 'weight'>[], b: readonly Pick<Backend, 'ip' | 'port' | 'weight'>[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.ip !== y.ip || x.port !== y.port || x.weight !== y.weight) return false;
  }
  return true;
}

export class BackendLists {
  /** content hash → the shared lists with it (one, but for a 32-bit collision) */
  readonly #byHash = new Map<number, Shared | Shared[]>();
  /** shared list → its entry, so a release finds it without hashing */
  readonly #entries = new WeakMap<readonly Backend[], Shared>();

  /** Number of distinct lists held. */
  get size(): number {
    let n = 0;
    for (const e of this.#byHash.values()) n += Array.isArray(e) ? e.length : 1;
    return n;
  }

  /**
   * `route` with its backends the shared list of that content (one more
   * holder): the route itself when its list is the shared one, else a
   * shallow copy; the caller's route is not changed. The first list of a
   * content is frozen in place and becomes the shared one.
   */
  hold(route: Route): Route {
    const shared = this.#share(route.backends);
    return shared === route.backends ? route : { ...route, backends: shared as Backend[] };
  }

  /** A route stored by hold() is gone: one holder less for its list (forgotten at none). */
  release(route: Route): void {
    const e = this.#entries.get(route.backends);
    if (e === undefined || --e.holders > 0) return;
    const h = hashBackends(e.list);
    const bucket = this.#byHash.get(h);
    if (bucket === e) this.#byHash.delete(h);
    else if (Array.isArray(bucket)) {
      bucket.splice(bucket.indexOf(e), 1);
      if (bucket.length === 1) this.#byHash.set(h, bucket[0]!);
    }
    this.#entries.delete(e.list);
  }

  #share(list: readonly Backend[]): readonly Backend[] {
    const own = this.#entries.get(list);
    if (own !== undefined) {
      own.holders++;
      return own.list;
    }
    const h = hashBackends(list);
    const bucket = this.#byHash.get(h);
    const found =
      bucket === undefined
        ? undefined
        : Array.isArray(bucket)
          ? bucket.find((e) => sameBackends(e.list, list))
          : sameBackends(bucket.list, list)
            ? bucket
            : undefined;
    if (found !== undefined) {
      found.holders++;
      return found.list;
    }
    for (const b of list) Object.freeze(b);
    const e: Shared = { list: Object.freeze(list), holders: 1 };
    this.#entries.set(e.list, e);
    if (bucket === undefined) this.#byHash.set(h, e);
    else if (Array.isArray(bucket)) bucket.push(e);
    else this.#byHash.set(h, [bucket, e]);
    return e.list;
  }
}
