// A node's health checking: follows the desired routes one change at a time,
// runs the active checks they ask for (one per backend and check path) on
// their intervals with a bounded number in flight, reads the data path's
// passive counters, folds both through health-state.ts, and hands every batch
// of transitions to onChange. Health is node-local observed state: nothing
// here writes Git, the event log or the route maps (the agent plans over
// effectiveRoute() with unhealthy()).
import { routeIdFor } from '../model/ids.js';
import type { BackendStats } from '../model/map-types.js';
import type { Route } from '../routes/route-model.js';
import type { BackendStatsTable } from '../dataplane/backend-stats.js';
import { mergeSettings, routeTargets, sameSettings, type CheckSettings, type CheckTarget } from './check-targets.js';
import { initialHealth, observe, passiveVerdict, statsDelta, type Observation, type TargetHealth } from './health-state.js';
import { httpCheck, type HttpCheckRequest, type HttpCheckResult } from './http-check.js';

export type RouteRef = Pick<Route, 'method' | 'path'>;

export interface HealthChange {
  target: CheckTarget;
  healthy: boolean;
  reason: string;
  /** the routes whose check this is */
  routes: Route[];
  /** ms since the epoch */
  at: number;
}

export interface TargetReport {
  /** the backend "ip:port" */
  backend: string;
  /** where its check goes: ":port/path" */
  check: string;
  /** names of the routes that use this check, sorted */
  routes: string[];
  healthy: boolean;
  /** why it is in this state ("" when it never changed) */
  reason: string;
  /** ISO time of the last change (or of the first check) */
  since: string;
  /** the last active check's outcome ("HTTP 200", "connection refused", ...) */
  last: string;
  transitions: number;
}

export interface HealthMonitorOptions {
  /** called once per batch of transitions (one event-loop turn), after unhealthy() changed */
  onChange(changes: HealthChange[]): void;
  /** one active check; httpCheck by default */
  check?: (req: HttpCheckRequest) => Promise<HttpCheckResult>;
  /** BACKEND_STATS; null: active checks only */
  stats?: BackendStatsTable | null;
  /** checks in flight at once, however many targets (default 32) */
  maxInFlight?: number;
  /** how often the passive counters are read (default 250 ms) */
  passiveMs?: number;
  /** called with backends that got no BACKEND_STATS entry (the map is full) */
  onUntracked?(endpoints: string[]): void;
  now?: () => number;
  random?: () => number;
}

interface Run {
  target: CheckTarget;
  settings: CheckSettings;
  health: TargetHealth;
  /** routeId -> the route and the settings it asks for */
  routes: Map<string, { route: Route; settings: CheckSettings }>;
  timer: NodeJS.Timeout | null;
  running: boolean;
  queued: boolean;
}

export class HealthMonitor {
  private readonly runs = new Map<string, Run>();
  private readonly unhealthyKeys = new Set<string>();
  private readonly queue: Run[] = [];
  private inFlight = 0;
  private pending: HealthChange[] = [];
  private flushing = false;
  private readonly lastStats = new Map<string, BackendStats>();
  private passiveTimer: NodeJS.Timeout | null = null;
  private statsDirty = false;
  /** "routeId endpoint" pairs that start unhealthy (drained before a restart) */
  private readonly restored = new Set<string>();
  private restoreReason = '';
  private stopped = false;
  private readonly check: (req: HttpCheckRequest) => Promise<HttpCheckResult>;
  private readonly maxInFlight: number;
  private readonly passiveMs: number;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly opts: HealthMonitorOptions) {
    this.check = opts.check ?? httpCheck;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 32);
    this.passiveMs = opts.passiveMs ?? 250;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  /**
   * Backends to start unhealthy, as "routeId endpoint" (routeIdFor, "ip:port"):
   * the ones a previous agent drained, read back from ROUTES. They need
   * healthyThreshold passing checks to come back. Call before following routes.
   */
  restore(pairs: Iterable<string>, reason: string): void {
    for (const p of pairs) this.restored.add(p);
    this.restoreReason = reason;
  }

  /** Forget what restore() said and was not used (call once the start state is followed). */
  endRestore(): void {
    this.restored.clear();
  }

  /** A desired route came (before undefined), changed, or went (after undefined): its checks follow. */
  follow(before: Route | undefined, after: Route | undefined): void {
    if (this.stopped) return;
    const touched = new Set<string>();
    if (before) {
      const id = routeIdFor(before);
      for (const { target } of routeTargets(before)) {
        this.runs.get(target.key)?.routes.delete(id);
        touched.add(target.key);
      }
    }
    if (after) {
      const id = routeIdFor(after);
      for (const { target, settings } of routeTargets(after)) {
        let run = this.runs.get(target.key);
        if (!run) {
          const restored = this.restored.delete(`${id} ${target.endpoint}`);
          run = {
            target,
            settings,
            health: initialHealth(this.now(), !restored, restored ? this.restoreReason : ''),
            routes: new Map(),
            timer: null,
            running: false,
            queued: false,
          };
          this.runs.set(target.key, run);
          if (restored) this.unhealthyKeys.add(target.key);
          this.statsDirty = true;
        }
        run.routes.set(id, { route: after, settings });
        touched.add(target.key);
      }
    }
    for (const key of touched) {
      const run = this.runs.get(key)!;
      const merged = mergeSettings([...run.routes.values()].map((r) => r.settings));
      if (merged === null) {
        this.cancel(run);
        this.runs.delete(key);
        this.unhealthyKeys.delete(key);
        this.statsDirty = true;
        continue;
      }
      const fresh = run.timer === null && !run.running;
      if (fresh || !sameSettings(run.settings, merged)) {
        run.settings = merged;
        this.schedule(run, this.firstDelay(merged));
      }
    }
    if (this.statsDirty) queueMicrotask(() => this.trackStats());
  }

  /** Follow exactly these routes (a start, a test): the difference from what is followed now. */
  setRoutes(routes: Iterable<Route>): void {
    const now = new Map(this.routes().map((r) => [routeIdFor(r), r]));
    const next = new Map<string, Route>();
    for (const r of routes) next.set(routeIdFor(r), r);
    for (const [id, r] of now) if (!next.has(id)) this.follow(r, undefined);
    for (const [id, r] of next) {
      const old = now.get(id);
      if (old !== r) this.follow(old, r);
    }
  }

  /** The routes followed that have checks. */
  routes(): Route[] {
    const out = new Map<string, Route>();
    for (const run of this.runs.values()) for (const [id, r] of run.routes) out.set(id, r.route);
    return [...out.values()];
  }

  /** Target keys (targetKey) that are unhealthy now. Live: it changes as checks end. */
  unhealthy(): ReadonlySet<string> {
    return this.unhealthyKeys;
  }

  report(): TargetReport[] {
    return [...this.runs.values()]
      .map(({ target: t, health: h, routes }) => ({
        backend: t.endpoint,
        check: `:${t.checkPort}${t.path}`,
        routes: [...routes.values()].map((r) => r.route.name).sort(),
        healthy: h.healthy,
        reason: h.reason,
        since: new Date(h.since).toISOString(),
        last: h.last,
        transitions: h.transitions,
      }))
      .sort((a, b) => a.backend.localeCompare(b.backend, 'en', { numeric: true }) || a.check.localeCompare(b.check));
  }

  stop(): void {
    this.stopped = true;
    for (const run of this.runs.values()) this.cancel(run);
    this.runs.clear();
    this.queue.length = 0;
    if (this.passiveTimer) clearInterval(this.passiveTimer);
    this.passiveTimer = null;
  }

  // ---- active checks ----

  /** The first check of a target comes soon, spread over a second so a start does not check everything at once. */
  private firstDelay(s: CheckSettings): number {
    return Math.floor(this.random() * Math.min(s.intervalMs, 1000));
  }

  private schedule(run: Run, delay: number): void {
    if (run.timer) clearTimeout(run.timer);
    run.timer = setTimeout(() => this.due(run), delay);
    run.timer.unref();
  }

  private cancel(run: Run): void {
    if (run.timer) clearTimeout(run.timer);
    run.timer = null;
    const i = this.queue.indexOf(run);
    if (i >= 0) this.queue.splice(i, 1);
    run.queued = false;
  }

  private due(run: Run): void {
    if (this.runs.get(run.target.key) !== run) return;
    this.schedule(run, run.settings.intervalMs);
    if (run.running || run.queued) return; // the last one has not finished: skip a turn rather than pile up
    if (this.inFlight < this.maxInFlight) this.start(run);
    else {
      run.queued = true;
      this.queue.push(run);
    }
  }

  private start(run: Run): void {
    this.inFlight++;
    run.running = true;
    const t = run.target;
    this.check({ ip: t.ip, port: t.checkPort, path: t.path, timeoutMs: run.settings.timeoutMs })
      .catch((err: unknown): HttpCheckResult => ({ ok: false, detail: (err as Error).message, ms: 0 }))
      .then((result) => {
        this.inFlight--;
        run.running = false;
        if (this.runs.get(t.key) === run) this.observe(run, result.ok ? { kind: 'pass', detail: result.detail } : { kind: 'fail', detail: result.detail });
        while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
          const next = this.queue.shift()!;
          next.queued = false;
          this.start(next);
        }
      });
  }

  private observe(run: Run, obs: Observation): void {
    const now = this.now();
    const { next, changed } = observe(run.health, obs, run.settings, now);
    run.health = next;
    if (!changed) return;
    if (next.healthy) this.unhealthyKeys.delete(run.target.key);
    else this.unhealthyKeys.add(run.target.key);
    this.pending.push({ target: run.target, healthy: next.healthy, reason: next.reason, routes: [...run.routes.values()].map((r) => r.route), at: now });
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      const batch = this.pending;
      this.pending = [];
      if (batch.length > 0 && !this.stopped) this.opts.onChange(batch);
    });
  }

  // ---- passive signal ----

  private trackStats(): void {
    if (!this.statsDirty || this.stopped) return;
    this.statsDirty = false;
    const stats = this.opts.stats;
    if (!stats) return;
    const endpoints = new Set([...this.runs.values()].map((r) => r.target.endpoint));
    for (const e of this.lastStats.keys()) if (!endpoints.has(e)) this.lastStats.delete(e);
    const missed = stats.track(endpoints);
    if (missed.length > 0) this.opts.onUntracked?.(missed);
    if (endpoints.size > 0 && !this.passiveTimer) {
      this.passiveTimer = setInterval(() => this.readPassive(), this.passiveMs);
      this.passiveTimer.unref();
    } else if (endpoints.size === 0 && this.passiveTimer) {
      clearInterval(this.passiveTimer);
      this.passiveTimer = null;
    }
  }

  private readPassive(): void {
    const stats = this.opts.stats;
    if (!stats || this.stopped) return;
    const byEndpoint = new Map<string, Run[]>();
    for (const run of this.runs.values()) {
      const list = byEndpoint.get(run.target.endpoint);
      if (list) list.push(run);
      else byEndpoint.set(run.target.endpoint, [run]);
    }
    for (const [endpoint, runs] of byEndpoint) {
      const now = stats.read(endpoint);
      if (!now) continue;
      const before = this.lastStats.get(endpoint);
      this.lastStats.set(endpoint, now);
      if (!before) continue; // the first read is the baseline
      const threshold = Math.min(...runs.map((r) => r.settings.unhealthyThreshold));
      const verdict = passiveVerdict(statsDelta(before, now), threshold, this.passiveMs);
      if (verdict) for (const run of runs) this.observe(run, verdict);
    }
  }
}
