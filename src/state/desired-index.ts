// The desired routes by ROUTES key id, with how many routes use each backend
// IP, kept up to date one route at a time. A scoped plan reads a changed
// route's desired entry here, asks whether a nexthop is still used by any
// route (scoped or not), and finds key collisions, without walking every
// desired route, and which ROUTE_SHAPES they need; the DesiredTracker updates
// it from the events it folds. Pure.
import type { Route } from '../routes/route-model.js';
import { routeIdFor, routeKeyAndId } from '../model/ids.js';
import type { RouteShapes } from '../model/map-types.js';
import { shapeOf, ShapeCounts } from '../model/route-shapes.js';

type RouteRef = Pick<Route, 'method' | 'path'>;

export class DesiredIndex {
  /** routeKeyId → the desired route under it */
  private readonly byKey = new Map<string, Route>();
  /** routeKeyId → further routes under the same key (an FNV-1a 64 collision): normally empty */
  private readonly clashes = new Map<string, Route[]>();
  /** backend IPv4 → number of (route, backend) pairs that use it */
  private readonly ipUses = new Map<string, number>();
  private ipList: string[] | null = null;
  private readonly shapeCounts = new ShapeCounts();

  /** An index of every route in `routes` (two with the same match are kept as a clash, as planChanges reports them). */
  static of(routes: Iterable<Route> | Readonly<Record<string, Route>>): DesiredIndex {
    const index = new DesiredIndex();
    const list = Symbol.iterator in routes ? (routes as Iterable<Route>) : Object.values(routes as Record<string, Route>);
    for (const r of list) index.add(routeIdFor(r), r);
    return index;
  }

  /** Number of desired routes. */
  get size(): number {
    let n = this.byKey.size;
    for (const more of this.clashes.values()) n += more.length;
    return n;
  }

  /** The route now desired under `ref`'s method and path: `route`, or none when undefined. */
  set(ref: RouteRef, route: Route | undefined): void {
    const key = routeIdFor(ref);
    this.remove(key, ref);
    if (route !== undefined) this.add(key, route);
  }

  private add(key: string, route: Route): void {
    this.count(route, 1);
    if (!this.byKey.has(key)) this.byKey.set(key, route);
    else {
      const more = this.clashes.get(key);
      if (more) more.push(route);
      else this.clashes.set(key, [route]);
    }
  }

  /** The desired route under a routeKeyId. */
  get(key: string): Route | undefined {
    return this.byKey.get(key);
  }

  /** Another desired route under the same routeKeyId as get(key) (a hash collision), if any. */
  clash(key: string): Route | undefined {
    return this.clashes.get(key)?.[0];
  }

  /** True when some desired route has a backend on `ip`. */
  uses(ip: string): boolean {
    return this.ipUses.has(ip);
  }

  /** The backend IPs the desired routes use (what a nexthop lookup must resolve); the same array until the set changes. */
  backendIps(): readonly string[] {
    this.ipList ??= [...this.ipUses.keys()];
    return this.ipList;
  }

  private remove(key: string, ref: RouteRef): void {
    const first = this.byKey.get(key);
    const more = this.clashes.get(key);
    if (first && first.method === ref.method && first.path === ref.path) {
      this.count(first, -1);
      const next = more?.shift();
      if (next) this.byKey.set(key, next);
      else this.byKey.delete(key);
    } else if (more) {
      const i = more.findIndex((r) => r.method === ref.method && r.path === ref.path);
      if (i >= 0) this.count(more.splice(i, 1)[0]!, -1);
    }
    if (more && more.length === 0) this.clashes.delete(key);
  }

  /** The ROUTE_SHAPES the desired routes need. */
  shapes(): RouteShapes {
    return this.shapeCounts.shapes();
  }

  private count(route: Route, delta: 1 | -1): void {
    this.shapeCounts.add(shapeOf(routeKeyAndId(route).key, route.path), delta);
    for (const b of route.backends) {
      const n = (this.ipUses.get(b.ip) ?? 0) + delta;
      if (n > 0) {
        if (n === 1 && delta === 1) this.ipList = null;
        this.ipUses.set(b.ip, n);
      } else {
        this.ipUses.delete(b.ip);
        this.ipList = null;
      }
    }
  }
}
