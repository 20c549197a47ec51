// The node agent: folds the event log into desired state and keeps one node's
// BPF maps equal to it. Used embedded (`rauta run`) and per node (`rauta agent`).
//
// Policy in brief:
// - start(): snapshot + only the log's tail, then read the maps back and plan
//   against what is really there (a crash mid-apply converges here).
// - reconcile(): fold whole commits; at each commit boundary where desired
//   changed, plan(belief, desired) and apply as one transaction. The belief is
//   the agent's model of the maps (simulateApply of what it wrote), so a
//   reconcile does not read the maps back; start and checkDrift do.
// - a commit's plan is scoped to the routes and listeners of the events folded
//   since the last good apply (and the nexthops whose MAC changed), so its cost
//   follows the change, not the number of routes; a full plan runs at start,
//   after any failure (what is applied may be uncertain) and in checkDrift.
//   For the same reason the desired state is the agent's own and folded in
//   place (a copy per commit would cost every route), with an undo record of
//   what changed since the last good apply for checkDrift's reference.
// - a failed apply is rolled back (maps byte-identical), the node stays on the
//   last good commit, and a retry with exponential backoff plans against the
//   newest desired state. An incomplete rollback drops the belief: the next
//   plan reads the maps back first.
// - checkDrift(): read back everything (table bytes too), plan against the
//   state last applied with verifyTables, apply the repairs and count them.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { pino, type Logger } from 'pino';
import { RautaError } from '../errors.js';
import { applyPlan, ApplyError, type ApplyResult } from '../dataplane/apply.js';
import { readMaps } from '../dataplane/read-back.js';
import type { RautaMaps } from '../dataplane/maps.js';
import type { EventLog } from '../events/event-log.js';
import { isCommitMarker, type RautaEvent } from '../routes/route-events.js';
import type { ValidationIssue } from '../routes/issues.js';
import { applyOpsInPlace, DesiredIndex, planChanges, routeIdFor, withTableIndex, type AppliedState, type DesiredDataplane, type Plan, type PlanScope, appliedStateOf } from '../plan/plan.js';
import { listenerId, routeId, type Listener, type Route } from '../routes/route-model.js';
import { foldEventsInPlace, initialState, type DesiredState } from '../state/fold.js';
import { readSnapshot, writeSnapshot } from '../state/snapshot.js';
import type { AgentError, AgentPlanReport, AgentRejection, AgentState, AgentStatus } from './agent-status.js';
import { backoffDelay } from './backoff.js';

export type { AgentStatus, AgentState } from './agent-status.js';

export interface NodeAgentOptions {
  /** node name: in logs, status and the snapshot file name */
  node: string;
  log: EventLog;
  /** the node's maps (program.typed, or a fault-injecting wrapper in tests) */
  maps: RautaMaps;
  /** where snapshots live (created if missing) */
  stateDir: string;
  /** backend IPv4 → destination MAC (neighbour table or configured gateway), for the desired routes' backend IPs */
  nexthops: (backendIps: readonly string[]) => Promise<Record<string, string>>;
  logger?: Logger;
  /** folded events between snapshots (default 100); one is also written on stop() */
  snapshotEvery?: number;
  /** run(): period of checkDrift (default 30 s; 0 disables) */
  driftIntervalMs?: number;
  /** retry backoff after a failed apply: first delay and cap (default 1 s, 30 s) */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** events per log read (default 1000) */
  readBatch?: number;
  /** log (and emit 'progress') every this many ops of a large apply (default 2000) */
  progressEvery?: number;
}

export interface AppliedEvent {
  reason: string;
  seq: number;
  commit: string | null;
  result: ApplyResult;
  plan: Plan;
}
export interface RolledBackEvent {
  reason: string;
  seq: number;
  commit: string | null;
  error: ApplyError;
}
export interface DriftEvent {
  repairs: number;
  ops: number;
  /** one line per repaired thing ("GET /a: changed", "orphan tables: 2") */
  details: string[];
}
export interface RejectedEvent {
  commit: string;
  seq: number;
  errors: ValidationIssue[];
}
export interface ProgressEvent {
  reason: string;
  done: number;
  total: number;
}

export interface NodeAgentEvents {
  applied: [AppliedEvent];
  rolledBack: [RolledBackEvent];
  drift: [DriftEvent];
  rejected: [RejectedEvent];
  /** an apply with at least progressEvery ops is about to start (done 0) and at each step */
  progress: [ProgressEvent];
}

export interface DriftReport {
  repairs: number;
  ops: number;
  details: string[];
}

type RoutesAndListeners = Pick<DesiredState, 'routes' | 'listeners'>;

function dataplaneOf(state: RoutesAndListeners, nexthops: Record<string, string>): DesiredDataplane {
  return { routes: state.routes, listeners: state.listeners, nexthops };
}

/** A copy the agent may fold into (the records are copied; routes and listeners are shared, frozen). */
function ownedCopy(state: DesiredState): DesiredState {
  return { ...state, routes: { ...state.routes }, listeners: { ...state.listeners } };
}

/** Freeze a route or listener as immer's fold did: the planner caches frozen routes by identity, and apply relies on plan values not changing. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The values folded over since the last good apply: by routeId / listenerId, what was there before (undefined: nothing). */
interface Undo {
  routes: Map<string, Route | undefined>;
  listeners: Map<string, Listener | undefined>;
}

function emptyUndo(): Undo {
  return { routes: new Map(), listeners: new Map() };
}

/** The IPs whose MAC differs between two lookups (one side may lack it). */
function changedMacs(before: Record<string, string>, after: Record<string, string>): string[] {
  if (before === after) return [];
  const out: string[] = [];
  for (const ip in after) if (before[ip] !== after[ip]) out.push(ip);
  for (const ip in before) if (!(ip in after)) out.push(ip);
  return out;
}

/** Routes (routeKeyId) and listeners (listenerKeyId) touched by events folded since the last good apply. */
interface PendingScope {
  routes: Set<string>;
  listeners: Set<string>;
}

function emptyScope(): PendingScope {
  return { routes: new Set(), listeners: new Set() };
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => b[k] === a[k]);
}

function errorReport(err: unknown): AgentError {
  const at = new Date().toISOString();
  if (err instanceof ApplyError) {
    return { code: err.code, message: err.message, op: err.failedOp, errno: err.errno ?? null, rolledBack: err.rolledBack, at };
  }
  const code = err instanceof RautaError ? err.code : 'UNEXPECTED';
  const errno = typeof (err as { errno?: unknown })?.errno === 'number' ? (err as { errno: number }).errno : null;
  return { code, message: err instanceof Error ? err.message : String(err), op: null, errno, rolledBack: null, at };
}

export class NodeAgent extends EventEmitter<NodeAgentEvents> {
  readonly node: string;
  private readonly opts: NodeAgentOptions;
  private readonly logger: Logger;
  private readonly snapshotPath: string;

  /** newest folded desired state (always at a commit boundary); the agent's own, folded in place */
  private desired: DesiredState = initialState();
  /** the agent's model of the maps; null: unknown, read back before the next plan */
  private belief: AppliedState | null = null;
  /** desired.routes indexed for scoped plans (kept equal to it as events are folded) */
  private index = new DesiredIndex();
  /** what changed since the maps last matched the last applied state; null: unknown, plan everything */
  private pending: PendingScope | null = null;
  /** the nexthops the maps were last brought to; null: nothing applied yet */
  private appliedNexthops: Record<string, string> | null = null;
  /** desired minus this is the state last applied (drift is measured against it) */
  private undo: Undo = emptyUndo();
  /** desired (or nexthops) not yet in the maps */
  private dirty = false;
  /** last seq read from the log (may be past desired.seq by an incomplete commit) */
  private readSeq = 0;
  private lastSnapshotSeq = 0;
  private nextRetryAt: number | null = null;
  private wake: (() => void) | null = null;
  private runAbort: AbortController | null = null;
  private running: Promise<void> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  private st: Omit<AgentStatus, 'node' | 'desiredSeq' | 'lag' | 'lastRejected' | 'nextRetryAt'> = {
    appliedSeq: 0,
    appliedCommit: null,
    headSeq: 0,
    state: 'idle',
    lastError: null,
    lastApplyAt: null,
    applies: 0,
    rollbacks: 0,
    driftRepairs: 0,
    driftChecks: 0,
    consecutiveFailures: 0,
    eventsRead: 0,
    lastPlan: null,
  };

  constructor(opts: NodeAgentOptions) {
    super();
    this.opts = opts;
    this.node = opts.node;
    this.logger = (opts.logger ?? pino({ level: 'info' })).child({ node: opts.node });
    this.snapshotPath = join(opts.stateDir, `desired-state.${opts.node.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
  }

  /** The newest folded desired state (at a commit boundary). The agent's own object, folded in place: read it, do not keep or change it. */
  get desiredState(): DesiredState {
    return this.desired;
  }

  status(): AgentStatus {
    const rej = this.desired.lastRejected;
    const lastRejected: AgentRejection | null = rej
      ? { commit: rej.commit, seq: rej.seq, errors: rej.errors.map((e) => ({ where: `${e.file}:${e.line}:${e.col}`, ...e })) }
      : null;
    return {
      node: this.node,
      ...this.st,
      desiredSeq: this.desired.seq,
      lag: Math.max(0, this.st.headSeq - this.st.appliedSeq),
      lastRejected,
      nextRetryAt: this.nextRetryAt === null ? null : new Date(this.nextRetryAt).toISOString(),
      lastError: this.st.lastError,
    };
  }

  /** Load the snapshot, fold the log's tail, read the maps back, plan and apply. Resolves even when the apply fails (status says failing). */
  async start(): Promise<AgentStatus> {
    return this.exclusive(async () => {
      this.st.state = 'starting';
      await mkdir(this.opts.stateDir, { recursive: true });
      let snapshot: DesiredState | null = null;
      try {
        snapshot = await readSnapshot(this.snapshotPath);
      } catch (err) {
        // The log is the truth: a bad snapshot costs a full replay, not the node.
        this.logger.warn({ err, path: this.snapshotPath }, 'snapshot unreadable; replaying the event log from the start');
      }
      const head = await this.opts.log.head();
      this.st.headSeq = head;
      if (snapshot && snapshot.seq > head) {
        this.logger.warn({ snapshotSeq: snapshot.seq, head }, 'snapshot is ahead of the event log (log rebuilt?); replaying from the start');
        snapshot = null;
      }
      this.desired = ownedCopy(snapshot ?? initialState());
      this.lastSnapshotSeq = this.desired.seq;
      this.readSeq = this.desired.seq;
      const fromSeq = this.desired.seq;
      let commits = 0;
      let lastRejected: RautaEvent | null = null;
      for await (const events of this.readCommits(head)) {
        foldEventsInPlace(this.desired, events);
        commits++;
        const marker = events[events.length - 1]!;
        if (marker.type === 'CommitRejected') lastRejected = marker;
      }
      if (lastRejected?.type === 'CommitRejected') this.reportRejected(lastRejected);
      for (const r of Object.values(this.desired.routes)) deepFreeze(r);
      for (const l of Object.values(this.desired.listeners)) deepFreeze(l);
      this.index = DesiredIndex.of(this.desired.routes);
      this.undo = emptyUndo();
      this.logger.info({ snapshotSeq: snapshot?.seq ?? null, replayedFrom: fromSeq + 1, desiredSeq: this.desired.seq, commits, head }, 'desired state loaded');
      this.belief = null;
      this.pending = null;
      this.dirty = true;
      await this.applyDesired('start');
      await this.maybeSnapshot();
      return this.status();
    });
  }

  /** Fold new whole commits (up to upToSeq, default the head) and apply each boundary where desired changed. */
  async reconcile(upToSeq?: number): Promise<AgentStatus> {
    return this.exclusive(() => this.reconcileNow(upToSeq, true));
  }

  /** Read everything back (table bytes too), repair differences from the last applied state, count them as drift. */
  async checkDrift(): Promise<DriftReport> {
    return this.exclusive(() => this.checkDriftNow());
  }

  /**
   * The loop: wait for the log head → reconcile; retry a failed apply when its
   * backoff is due; checkDrift every driftIntervalMs. Returns when `signal`
   * aborts or stop() is called.
   */
  run(signal?: AbortSignal): Promise<void> {
    if (this.running) return this.running;
    const inner = new AbortController();
    this.runAbort = inner;
    const onAbort = () => inner.abort(signal?.reason);
    if (signal?.aborted) inner.abort(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.running = this.loop(inner.signal).finally(() => {
      signal?.removeEventListener('abort', onAbort);
      this.running = null;
      this.runAbort = null;
    });
    return this.running;
  }

  /** Finish the current apply, end run(), write a snapshot. Program and maps stay pinned and attached. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.runAbort?.abort(new Error('agent stopping'));
    this.wake?.();
    await this.running?.catch(() => undefined);
    await this.exclusive(async () => {
      if (this.desired.seq === 0) return; // nothing folded (never started): keep whatever snapshot is there
      await mkdir(this.opts.stateDir, { recursive: true });
      await writeSnapshot(this.snapshotPath, this.desired);
      this.lastSnapshotSeq = this.desired.seq;
    });
    this.st.state = 'stopped';
    this.logger.info({ appliedSeq: this.st.appliedSeq, desiredSeq: this.desired.seq }, 'agent stopped; maps stay pinned');
  }

  // ---- internals ----------------------------------------------------------

  /** One thing at a time: a reconcile, a drift check and stop never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const driftEvery = this.opts.driftIntervalMs ?? 30_000;
    let nextDrift = driftEvery > 0 ? Date.now() + driftEvery : Infinity;
    while (!signal.aborted) {
      const wakeAt = Math.min(nextDrift, this.nextRetryAt ?? Infinity);
      const timeout = wakeAt === Infinity ? undefined : Math.max(0, wakeAt - Date.now());
      // wake() (a failure outside the loop, stop) cuts the wait short so the new retry time counts.
      const waitAbort = new AbortController();
      const onAbort = () => waitAbort.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.wake = () => waitAbort.abort(new Error('wake'));
      let head: number;
      try {
        head = await this.opts.log.waitForHead(this.readSeq, waitAbort.signal, timeout);
      } catch (err) {
        if (signal.aborted) break;
        if (waitAbort.signal.aborted) continue;
        this.fail('log', err);
        await this.sleep(this.retryDelay(), signal);
        continue;
      } finally {
        signal.removeEventListener('abort', onAbort);
        this.wake = null;
      }
      if (signal.aborted) break;
      this.st.headSeq = Math.max(this.st.headSeq, head);
      const retryDue = this.nextRetryAt !== null && Date.now() >= this.nextRetryAt;
      if (head > this.readSeq || retryDue) {
        await this.exclusive(() => this.reconcileNow(undefined, retryDue)).catch((err) => this.fail('reconcile', err));
      }
      if (Date.now() >= nextDrift) {
        await this.checkDrift().catch((err) => this.fail('drift check', err));
        nextDrift = Date.now() + driftEvery;
      }
    }
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Whole commits after readSeq up to `target`, each as its events (ending with its marker). */
  private async *readCommits(target: number): AsyncGenerator<RautaEvent[]> {
    const batch = this.opts.readBatch ?? 1000;
    let next = this.desired.seq + 1;
    let pending: RautaEvent[] = [];
    while (next <= target) {
      const events = await this.opts.log.read(next, Math.min(batch, target - next + 1));
      if (events.length === 0) break;
      this.st.eventsRead += events.length;
      next = events[events.length - 1]!.seq + 1;
      this.readSeq = Math.max(this.readSeq, next - 1);
      for (const e of events) {
        pending.push(e);
        if (isCommitMarker(e)) {
          yield pending;
          pending = [];
        }
      }
    }
    // An incomplete commit (upToSeq cut it) is read again next time: desired.seq did not pass it.
  }

  private async reconcileNow(upToSeq: number | undefined, force: boolean): Promise<AgentStatus> {
    if (this.stopped) return this.status();
    const head = await this.opts.log.head();
    this.st.headSeq = Math.max(this.st.headSeq, head);
    const target = Math.min(upToSeq ?? head, head);
    let failed = false;
    let foldedSinceAttempt = false;
    let attempted = false;
    for await (const events of this.readCommits(target)) {
      const changed = this.fold(events);
      const marker = events[events.length - 1]!;
      if (marker.type === 'CommitRejected') this.reportRejected(marker);
      if (changed) this.dirty = true;
      if (!this.dirty) {
        // Nothing to write (a rejected commit, or one that changed nothing): the maps hold this seq too.
        this.markApplied();
      } else if (!failed) {
        attempted = true;
        failed = !(await this.applyDesired(this.st.consecutiveFailures > 0 ? 'retry' : 'commit'));
        foldedSinceAttempt = false;
      } else {
        foldedSinceAttempt = true;
      }
      await this.maybeSnapshot();
    }
    // One attempt against the newest desired state: after commits that arrived
    // behind a failure, or when a retry is due (or asked for) with no new commit.
    if (this.dirty && (foldedSinceAttempt || (!attempted && force))) await this.applyDesired('retry');
    return this.status();
  }

  /**
   * Fold one commit into desired (in place, all or nothing), recording the
   * values it replaces in `undo`. True when routes or listeners changed (an
   * upsert, or a removal of something present), as immer's new records said.
   */
  private fold(events: readonly RautaEvent[]): boolean {
    const d = this.desired;
    let changed = false;
    for (const e of events) {
      if (e.type === 'RouteUpserted' || e.type === 'RouteRemoved') {
        const id = routeId(e.type === 'RouteUpserted' ? e.route : e);
        if (!this.undo.routes.has(id)) this.undo.routes.set(id, d.routes[id]);
        if (e.type === 'RouteUpserted') deepFreeze(e.route);
        changed ||= e.type === 'RouteUpserted' || Object.hasOwn(d.routes, id);
      } else if (e.type === 'ListenerUpserted' || e.type === 'ListenerRemoved') {
        const id = listenerId(e.type === 'ListenerUpserted' ? e.listener : e);
        if (!this.undo.listeners.has(id)) this.undo.listeners.set(id, d.listeners[id]);
        if (e.type === 'ListenerUpserted') deepFreeze(e.listener);
        changed ||= e.type === 'ListenerUpserted' || Object.hasOwn(d.listeners, id);
      }
    }
    foldEventsInPlace(d, events);
    this.noteFolded(events);
    return changed;
  }

  /** The routes and listeners the maps were last brought to: desired with the undo record put back (a copy only when they differ). */
  private lastApplied(): RoutesAndListeners {
    const { routes: undoRoutes, listeners: undoListeners } = this.undo;
    if (undoRoutes.size === 0 && undoListeners.size === 0) return this.desired;
    const routes = { ...this.desired.routes };
    for (const [id, r] of undoRoutes) if (r === undefined) delete routes[id];
    else routes[id] = r;
    const listeners = { ...this.desired.listeners };
    for (const [id, l] of undoListeners) if (l === undefined) delete listeners[id];
    else listeners[id] = l;
    return { routes, listeners };
  }

  /** Keep the index equal to the desired routes and remember what the commit touched. */
  private noteFolded(events: readonly RautaEvent[]): void {
    for (const e of events) {
      if (e.type === 'RouteUpserted' || e.type === 'RouteRemoved') {
        const ref = e.type === 'RouteUpserted' ? e.route : e;
        this.index.set(ref, this.desired.routes[routeId(ref)]);
        this.pending?.routes.add(routeIdFor(ref));
      } else if (e.type === 'ListenerUpserted' || e.type === 'ListenerRemoved') {
        this.pending?.listeners.add(listenerId(e.type === 'ListenerUpserted' ? e.listener : e));
      }
    }
  }

  private reportRejected(marker: Extract<RautaEvent, { type: 'CommitRejected' }>): void {
    const errors = marker.errors;
    this.logger.warn(
      { commit: marker.commit, seq: marker.seq, errors: errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`) },
      `commit ${marker.commit.slice(0, 12)} rejected (${errors.length} error(s)); staying on ${this.desired.commit?.slice(0, 12) ?? 'no commit'}`,
    );
    this.emit('rejected', { commit: marker.commit, seq: marker.seq, errors });
  }

  /** The maps hold the newest desired state: a failure that is not an apply's (log read, lookup) is over too. */
  private markApplied(): void {
    this.st.appliedSeq = this.desired.seq;
    this.st.appliedCommit = this.desired.commit;
    if (!this.dirty && (this.st.state === 'failing' || this.st.state === 'idle')) {
      if (this.st.lastError !== null) this.logger.info({ previous: this.st.lastError.message }, 'recovered');
      this.st.state = 'ready';
      this.st.lastError = null;
      this.st.consecutiveFailures = 0;
      this.nextRetryAt = null;
    }
  }

  /** Plan the newest desired state against the belief (read back when unknown) and apply it. True on success. */
  private async applyDesired(reason: string): Promise<boolean> {
    let plan: Plan;
    let nexthops: Record<string, string>;
    let belief: AppliedState;
    let scopeRoutes: number | null = null;
    try {
      if (this.belief === null) {
        const { contents, stats } = readMaps(this.opts.maps);
        this.belief = appliedStateOf(contents);
        this.pending = null;
        this.logger.info({ ...stats }, 'read the maps back');
      }
      belief = this.belief;
      nexthops = await this.opts.nexthops(this.index.backendIps());
      const pending = this.pending;
      const lastNexthops = this.appliedNexthops;
      let scope: PlanScope | undefined;
      if (pending && lastNexthops) {
        scope = { routes: pending.routes, listeners: pending.listeners, nexthops: changedMacs(lastNexthops, nexthops), index: this.index };
        scopeRoutes = pending.routes.size;
      }
      plan = planChanges(belief, dataplaneOf(this.desired, nexthops), { scope });
    } catch (err) {
      this.pending = null;
      this.fail(`plan (${reason})`, err);
      return false;
    }
    if (plan.summary.missingNexthops.length > 0) {
      this.logger.warn({ missing: plan.summary.missingNexthops.slice(0, 20), count: plan.summary.missingNexthops.length }, 'backends without a nexthop MAC: their traffic is passed to the kernel');
    }
    const result = this.runPlan(plan, reason);
    if (result instanceof Error) {
      this.pending = null;
      return false;
    }
    this.pending = emptyScope();
    this.believeApplied(belief, plan);
    this.appliedNexthops = nexthops;
    this.undo = emptyUndo();
    this.dirty = false;
    this.markApplied();
    this.noteSuccess(plan, result, reason, true, scopeRoutes);
    return true;
  }

  /** The maps now hold `belief` after `plan` (updated in place: a commit costs its ops, not a copy of every entry). */
  private believeApplied(belief: AppliedState, plan: Plan): void {
    try {
      applyOpsInPlace(belief, plan.ops);
      this.belief = belief;
    } catch (err) {
      // The kernel accepted ops the model refused: the model is wrong, read the maps back.
      this.belief = null;
      this.pending = null;
      this.logger.warn({ err }, 'the model of the maps disagrees with an applied plan; reading the maps back before the next plan');
    }
  }

  /** Apply with progress and bookkeeping; the error (already reported) on failure. */
  private runPlan(plan: Plan, reason: string): ApplyResult | Error {
    const every = this.opts.progressEvery ?? 2000;
    const big = plan.ops.length >= every;
    const prevState = this.st.state;
    this.st.state = 'applying';
    if (big) {
      this.logger.info({ reason, ops: plan.ops.length, summary: plan.summary }, 'applying a large plan');
      this.emit('progress', { reason, done: 0, total: plan.ops.length });
    }
    try {
      return applyPlan(this.opts.maps, plan.ops, {
        progressEvery: every,
        onProgress: big
          ? (done, total) => {
              this.logger.info({ reason, done, total }, 'apply progress');
              this.emit('progress', { reason, done, total });
            }
          : undefined,
      });
    } catch (err) {
      this.st.state = prevState;
      if (err instanceof ApplyError) {
        this.st.rollbacks++;
        if (!err.rolledBack) this.belief = null; // half-changed: read back before the next plan
        this.emit('rolledBack', { reason, seq: this.desired.seq, commit: this.desired.commit, error: err });
      }
      this.fail(`apply (${reason})`, err);
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  private noteSuccess(plan: Plan, result: ApplyResult, reason: string, clearFailure = true, scopeRoutes: number | null = null): void {
    const disruption = plan.routes.reduce((m, r) => (r.change === 'removed' || r.change === 'added' ? m : Math.max(m, r.disruption)), 0);
    if (plan.ops.length > 0 || this.st.lastPlan === null) {
      const report: AgentPlanReport = { reason, ops: result.ops, bytesWritten: result.bytesWritten, durationMs: result.durationMs, disruption, scopeRoutes, summary: plan.summary };
      this.st.lastPlan = report;
    }
    if (plan.ops.length > 0) this.st.applies++;
    this.st.lastApplyAt = new Date().toISOString();
    if (clearFailure) {
      this.st.consecutiveFailures = 0;
      this.nextRetryAt = null;
      this.st.state = 'ready';
      if (this.st.lastError !== null) this.logger.info({ previous: this.st.lastError.message }, 'recovered');
      this.st.lastError = null;
    } else this.st.state = 'failing';
    if (plan.ops.length > 0) {
      this.logger.info(
        { reason, seq: this.desired.seq, commit: this.desired.commit, bytes: result.bytesWritten, ms: Math.round(result.durationMs * 10) / 10, disruption, scopeRoutes, ...plan.summary },
        'applied',
      );
    }
    this.emit('applied', { reason, seq: this.desired.seq, commit: this.desired.commit, result, plan });
  }

  /** Record a failure: status failing with the error, next retry after backoff. */
  private fail(what: string, err: unknown): void {
    this.st.consecutiveFailures++;
    this.st.lastError = errorReport(err);
    this.st.state = 'failing';
    const delay = this.retryDelay();
    this.nextRetryAt = Date.now() + delay;
    const incomplete = err instanceof ApplyError && !err.rolledBack;
    const log = incomplete ? this.logger.error.bind(this.logger) : this.logger.warn.bind(this.logger);
    log(
      { err, failures: this.st.consecutiveFailures, retryInMs: delay, appliedCommit: this.st.appliedCommit },
      incomplete
        ? `${what} failed AND its rollback was incomplete: the maps may be half-changed; they will be read back and replanned`
        : `${what} failed; staying on the last good commit, retrying`,
    );
    this.wake?.();
  }

  private retryDelay(): number {
    return backoffDelay(Math.max(1, this.st.consecutiveFailures), { initialMs: this.opts.retryInitialMs ?? 1000, maxMs: this.opts.retryMaxMs ?? 30_000 });
  }

  private async checkDriftNow(): Promise<DriftReport> {
    this.st.driftChecks++;
    if (this.appliedNexthops === null) return { repairs: 0, ops: 0, details: [] };
    const real = appliedStateOf(readMaps(this.opts.maps, { tableValues: true }).contents);
    const want = { state: this.lastApplied(), nexthops: this.appliedNexthops };
    const plan = planChanges(real, dataplaneOf(want.state, want.nexthops), { verifyTables: true });
    const report: DriftReport = { repairs: 0, ops: plan.ops.length, details: [] };
    if (plan.ops.length > 0) {
      const s = plan.summary;
      for (const r of plan.routes) report.details.push(`${r.method} ${r.path ?? `(hash ${r.id})`}: ${r.change}${r.reason ? ` (${r.reason})` : ''}`);
      const extra: Array<[number, string]> = [
        [s.listenersSet, 'listeners missing'],
        [s.listenersDeleted, 'listeners extra'],
        [s.nexthopsSet, 'nexthops missing or wrong'],
        [s.nexthopsDeleted, 'nexthops extra'],
        [s.orphanTablesDeleted, 'orphan tables'],
      ];
      for (const [n, what] of extra) if (n > 0) report.details.push(`${what}: ${n}`);
      report.repairs = plan.routes.length + s.listenersSet + s.listenersDeleted + s.nexthopsSet + s.nexthopsDeleted + s.orphanTablesDeleted;
      this.logger.warn({ repairs: report.repairs, ops: plan.ops.length, details: report.details.slice(0, 50) }, 'drift: the maps differ from the last applied state; repairing');
      this.belief = real;
      const result = this.runPlan(plan, 'drift');
      if (result instanceof Error) {
        this.belief = null;
        this.pending = null;
        this.dirty = true;
        return report;
      }
      this.believeApplied(real, plan);
      this.st.driftRepairs += report.repairs;
      this.emit('drift', { repairs: report.repairs, ops: plan.ops.length, details: report.details });
      // A repair of the last good state does not end a failure to apply a newer one.
      this.noteSuccess(plan, result, 'drift', !this.dirty);
    } else {
      this.belief = real;
    }
    // The neighbour table moves on its own: a changed nexthop is an update, not drift.
    try {
      const nexthops = await this.opts.nexthops(this.index.backendIps());
      if (!sameRecord(nexthops, want.nexthops)) this.dirty = true;
    } catch (err) {
      this.fail('nexthops lookup', err);
    }
    if (this.dirty && this.st.consecutiveFailures === 0) await this.applyDesired('nexthops');
    return report;
  }

  private async maybeSnapshot(): Promise<void> {
    const every = this.opts.snapshotEvery ?? 100;
    if (this.desired.seq - this.lastSnapshotSeq < every) return;
    try {
      await writeSnapshot(this.snapshotPath, this.desired);
      this.lastSnapshotSeq = this.desired.seq;
      this.logger.debug({ seq: this.desired.seq, path: this.snapshotPath }, 'snapshot written');
    } catch (err) {
      // A missed snapshot only costs replay time on the next start.
      this.logger.warn({ err }, 'snapshot write failed');
    }
  }
}
