// A node's health checking: runs the active checks of checkTargets() on their
// intervals with a bounded number in flight, reads the data path's passive
// counters, folds both through health-state.ts, and hands every batch of
// transitions to onChange. Health is node-local observed state: nothing here
// writes Git, the event log or the route maps (the agent plans over
// effectiveRoutes() of the unhealthy set).
import type { Route } from '../routes/route-model.js';
import type { BackendStats } from '../model/map-types.js';
import type { BackendStatsTable } from '../dataplane/backend-stats.js';
import { checkTargets, sameTarget, type CheckTarget } from './check-targets.js';
import { initialHealth, observe, passiveVerdict, statsDelta, type Observation, type TargetHealth } from './health-state.js';
import { httpCheck, type HttpCheckRequest, type HttpCheckResult } from './http-check.js';

export interface HealthChange {
  target: CheckTarget;
  healthy: boolean;
  reason: string;
  /** ms since the epoch */
  at: number;
}

export interface TargetReport {
  /** the backend "ip:port" */
  backend: string;
  /** where its check goes: ":port/path" */
  check: string;
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
  /** called once per batch of transitions (one event-loop turn), after the monitor's own state changed */
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
  health: TargetHealth;
  timer: NodeJS.Timeout | null;
  running: boolean;
  queued: boolean;
}

export class HealthMonitor {
  private readonly runs = new Map<string, Run>();
  private readonly queue: Run[] = [];
  private inFlight = 0;
  private pending: HealthChange[] = [];
  private flushing = false;
  private readonly lastStats = new Map<string, BackendStats>();
  private passiveTimer: NodeJS.Timeout | null = null;
  private readonly restored = new Map<string, string>();
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
   * Start these targets unhealthy (backends a previous agent drained, read back
   * from the maps): they need healthyThreshold passing checks to come back.
   * Call before setRoutes.
   */
  restore(keys: Iterable<string>, reason: string): void {
    for (const k of keys) this.restored.set(k, reason);
  }

  /** Check what these routes ask for: new checks start, dropped ones stop, kept ones keep their state. */
  setRoutes(routes: Iterable<Route>): void {
    if (this.stopped) return;
    const next = checkTargets(routes);
    for (const [key, run] of this.runs) {
      if (next.has(key)) continue;
      this.cancel(run);
      this.runs.delete(key);
    }
    for (const [key, target] of next) {
      const run = this.runs.get(key);
      if (run) {
        const same = sameTarget(run.target, target);
        run.target = target;
        if (!same) this.schedule(run, this.firstDelay(target));
        continue;
      }
      const reason = this.restored.get(key);
      this.restored.delete(key);
      const fresh: Run = { target, health: initialHealth(this.now(), reason === undefined, reason ?? ''), timer: null, running: false, queued: false };
      this.runs.set(key, fresh);
      this.schedule(fresh, this.firstDelay(target));
    }
    this.restored.clear();
    this.trackStats();
  }

  /** Target keys (check-targets.ts targetKey) that are unhealthy now. */
  unhealthy(): Set<string> {
    const out = new Set<string>();
    for (const [key, run] of this.runs) if (!run.health.healthy) out.add(key);
    return out;
  }

  report(): TargetReport[] {
    return [...this.runs.values()]
      .map(({ target: t, health: h }) => ({
        backend: t.endpoint,
        check: `:${t.checkPort}${t.path}`,
        routes: t.routes,
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
  private firstDelay(t: CheckTarget): number {
    return Math.floor(this.random() * Math.min(t.intervalMs, 1000));
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
    this.schedule(run, run.target.intervalMs);
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
    this.check({ ip: t.ip, port: t.checkPort, path: t.path, timeoutMs: t.timeoutMs })
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
    const { next, changed } = observe(run.health, obs, run.target, now);
    run.health = next;
    if (!changed) return;
    this.pending.push({ target: run.target, healthy: next.healthy, reason: next.reason, at: now });
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
      const threshold = Math.min(...runs.map((r) => r.target.unhealthyThreshold));
      const verdict = passiveVerdict(statsDelta(before, now), threshold, this.passiveMs);
      if (verdict) for (const run of runs) this.observe(run, verdict);
    }
  }
}
