// The node agent: keeps one node's BPF maps equal to the fold of the event
// log. Used embedded (`rauta run`) and per node (`rauta agent`); the two
// differ only in their wake source. The agent schedules and reports; the
// state it works on is in two objects:
//   - DesiredTracker (src/state): the desired state folded commit by commit,
//     its index, what changed since the last apply, the last applied target;
//   - MapModel: what the maps hold (unknown | read | synced).
//
// Policy in brief:
// - start(): snapshot + only the log's tail, then read the maps back and plan
//   everything against what is really there (a crash mid-apply converges).
// - a reconcile pass reads the log to its head and folds whole commits; at
//   each commit that changed something, it plans and applies one transaction.
//   While the model is synced the plan is scoped to what the tracker says was
//   touched since the last apply, so its cost follows the change, not the
//   number of routes; at start, after any failure and in drift checks the
//   plan covers everything.
// - a failed apply is rolled back (maps byte-identical) and the node stays on
//   the last good commit; the RetryPolicy says when to try the newest desired
//   state again. A new commit is tried at once.
// - checkDrift(): read back everything (table bytes too), plan against the
//   last applied target with verifyTables, apply the repairs, count them.
// - Scheduler: when each of these runs (wake-ups, replan requests, retry,
//   resync and drift timers), one loop for both modes.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { pino, type Logger } from 'pino';
import { RautaError } from '../errors.js';
import { ApplyError, type ApplyResult } from '../dataplane/apply.js';
import type { RautaMaps } from '../dataplane/maps.js';
import type { EventLog } from '../events/event-log.js';
import { isCommitMarker, type RautaEvent } from '../routes/route-events.js';
import type { ValidationIssue } from '../routes/issues.js';
import { planChanges, type AppliedState, type DesiredDataplane, type Plan, type PlanScope } from '../plan/plan.js';
import type { DesiredState } from '../state/desired-state.js';
import { changedMacs, DesiredTracker, type AppliedTarget, type NexthopLookup } from '../state/desired-tracker.js';
import { readSnapshot, writeSnapshot } from '../state/snapshot.js';
import type { AgentError, AgentPlanReport, AgentRejection, AgentStatus } from './agent-status.js';
import { MapModel } from './map-model.js';
import type { NodeHealth } from './node-health.js';
import { RetryPolicy } from './retry-policy.js';
import { Scheduler, type PassRequest, type ReplanScope } from './scheduler.js';
import { logHeadWakeSource, type WakeResult, type WakeSource, type WakeTarget } from './wake-source.js';

export type { AgentStatus, AgentState } from './agent-status.js';
export type { ReplanScope } from './scheduler.js';

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
  /** what wakes run() when the log grows (default: the log's own wait-for-head) */
  wakeSource?: WakeSource;
  /** folded events between snapshots (default 100); one is also written on stop() */
  snapshotEvery?: number;
  /** run(): period of checkDrift (default 30 s; 0 disables) */
  driftIntervalMs?: number;
  /** run(): a reconcile pass at the latest this long after the last one, in case a wake-up was lost (default 30 s; 0 disables) */
  resyncIntervalMs?: number;
  /** retry backoff after a failure: first delay and cap (default 1 s, 30 s) */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** events per log read (default 1000) */
  readBatch?: number;
  /** this node's backend health: the agent plans the routes it drains, and reports it in status */
  health?: NodeHealth;
  /** log (and emit 'progress') every this many ops of a large apply (default 2000) */
  progressEvery?: number;
}

export interface AppliedEvent {
  reason: string;
  seq: number;
  commit: string | null;
  result: ApplyResult;
  plan: Plan;
  /** routes the plan looked at when scoped to what changed; null: a full plan */
  scopeRoutes: number | null;
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

function dataplaneOf(state: Pick<DesiredState, 'routes' | 'listeners'>, nexthops: NexthopLookup): DesiredDataplane {
  return { routes: state.routes, listeners: state.listeners, nexthops };
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

type AgentCounters = Pick<
  AgentStatus,
  'headSeq' | 'state' | 'lastError' | 'lastApplyAt' | 'applies' | 'rollbacks' | 'driftRepairs' | 'driftChecks' | 'eventsRead' | 'lastPlan'
>;

export class NodeAgent extends EventEmitter<NodeAgentEvents> implements WakeTarget {
  readonly node: string;
  private readonly opts: NodeAgentOptions;
  private readonly logger: Logger;
  private readonly snapshotPath: string;
  private readonly retry: RetryPolicy;
  private readonly scheduler: Scheduler;
  private readonly model: MapModel;
  private tracker = new DesiredTracker();

  /** last seq read from the log (may be past the desired state's seq by an incomplete commit) */
  private lastReadSeq = 0;
  private lastSnapshotSeq = 0;
  /** map operations applied since this object was created (a wake-up's result counts its own) */
  private opsWritten = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private stopping: Promise<void> | null = null;

  private st: AgentCounters = {
    headSeq: 0,
    state: 'idle',
    lastError: null,
    lastApplyAt: null,
    applies: 0,
    rollbacks: 0,
    driftRepairs: 0,
    driftChecks: 0,
    eventsRead: 0,
    lastPlan: null,
  };

  constructor(opts: NodeAgentOptions) {
    super();
    this.opts = opts;
    this.node = opts.node;
    this.logger = (opts.logger ?? pino({ level: 'info' })).child({ node: opts.node });
    this.snapshotPath = join(opts.stateDir, `desired-state.${opts.node.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
    this.retry = new RetryPolicy({ initialMs: opts.retryInitialMs ?? 1000, maxMs: opts.retryMaxMs ?? 30_000 });
    this.model = new MapModel(opts.maps, this.logger);
    this.scheduler = new Scheduler(
      {
        reconcile: (req) => this.exclusive(() => this.reconcilePass(req)),
        checkDrift: () =>
          this.checkDrift().then(
            () => undefined,
            (err: unknown) => void this.fail('drift check', err),
          ),
      },
      { retry: this.retry, driftIntervalMs: opts.driftIntervalMs ?? 30_000, resyncIntervalMs: opts.resyncIntervalMs ?? 30_000, logger: this.logger },
    );
  }

  /** The newest folded desired state (at a commit boundary). The agent's own object, folded in place: read it, do not keep or change it. */
  get desiredState(): Readonly<DesiredState> {
    return this.tracker.state;
  }

  get readSeq(): number {
    return this.lastReadSeq;
  }

  status(): AgentStatus {
    const desired = this.tracker.state;
    const rej = desired.lastRejected;
    const lastRejected: AgentRejection | null = rej
      ? { commit: rej.commit, seq: rej.seq, errors: rej.errors.map((e) => ({ where: `${e.file}:${e.line}:${e.col}`, ...e })) }
      : null;
    const appliedSeq = this.tracker.appliedSeq;
    const nextRetryAt = this.retry.nextRetryAt;
    return {
      node: this.node,
      appliedSeq,
      appliedCommit: this.tracker.appliedCommit,
      desiredSeq: desired.seq,
      headSeq: this.st.headSeq,
      lag: Math.max(0, this.st.headSeq - appliedSeq),
      state: this.st.state,
      lastError: this.st.lastError,
      lastRejected,
      lastApplyAt: this.st.lastApplyAt,
      applies: this.st.applies,
      rollbacks: this.st.rollbacks,
      driftRepairs: this.st.driftRepairs,
      driftChecks: this.st.driftChecks,
      consecutiveFailures: this.retry.failures,
      nextRetryAt: nextRetryAt === null ? null : new Date(nextRetryAt).toISOString(),
      eventsRead: this.st.eventsRead,
      lastPlan: this.st.lastPlan,
      health: this.opts.health?.status() ?? null,
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
      this.tracker = new DesiredTracker(snapshot, this.opts.health);
      const fromSeq = this.tracker.state.seq;
      this.lastSnapshotSeq = fromSeq;
      this.lastReadSeq = fromSeq;
      let commits = 0;
      let lastRejected: RautaEvent | null = null;
      for await (const events of this.readCommits(head)) {
        this.tracker.apply(events);
        commits++;
        const marker = events[events.length - 1]!;
        if (marker.type === 'CommitRejected') lastRejected = marker;
      }
      if (lastRejected?.type === 'CommitRejected') this.reportRejected(lastRejected);
      this.logger.info(
        { snapshotSeq: snapshot?.seq ?? null, replayedFrom: fromSeq + 1, desiredSeq: this.tracker.state.seq, commits, head },
        'desired state loaded',
      );
      await this.applyDesired('start');
      await this.maybeSnapshot();
      return this.status();
    });
  }

  /**
   * One reconcile pass now: fold new whole commits and apply each that
   * changed something; with nothing new, try again what is waiting (a retry
   * not yet due, too).
   */
  async reconcile(): Promise<AgentStatus> {
    await this.exclusive(() => this.reconcilePass({ retryDue: true, replan: this.scheduler.takeReplan() }));
    return this.status();
  }

  /** Read everything back (table bytes too), repair differences from the last applied state, count them as drift. */
  async checkDrift(): Promise<DriftReport> {
    return this.exclusive(() => this.checkDriftNow());
  }

  /**
   * The log holds `upToSeq` (undefined: look at its head). Resolves once a
   * pass begun after this call has read the log to its head, folded it and
   * tried to apply it (run() schedules it; without run() it runs now).
   */
  async wake(upToSeq?: number): Promise<WakeResult> {
    if (upToSeq !== undefined) this.st.headSeq = Math.max(this.st.headSeq, upToSeq);
    const before = this.opsWritten;
    if (this.scheduler.running) await this.scheduler.nextPass();
    else await this.exclusive(() => this.reconcilePass({ retryDue: this.retry.isDue(), replan: this.scheduler.takeReplan() }));
    return { status: this.status(), ops: this.opsWritten - before };
  }

  /**
   * The node's effective desired state changed without a commit (a node-local
   * input such as backend health): replan these routes (or everything) in the
   * next pass, which run() starts at once.
   */
  requestReplan(scope: ReplanScope): void {
    this.scheduler.requestReplan(scope);
  }

  /** A wake source could not watch the log: a failure like any other. Returns the ms until its retry. */
  failed(what: string, err: unknown): number {
    return this.fail(what, err);
  }

  /**
   * The loop (Scheduler): reconcile when the wake source says the log grew,
   * when a replan is requested, when a retry is due or the resync timer runs
   * out; checkDrift every driftIntervalMs. Returns when `signal` aborts or
   * stop() is called.
   */
  run(signal?: AbortSignal): Promise<void> {
    return this.scheduler.run(this.opts.wakeSource ?? logHeadWakeSource(this.opts.log), this, signal);
  }

  /** Finish the wake-up in hand and the current pass, end run(), write a snapshot. Program and maps stay pinned and attached. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    await this.scheduler.stop();
    this.stopped = true;
    await this.exclusive(async () => {
      if (this.tracker.state.seq === 0) return; // nothing folded (never started): keep whatever snapshot is there
      await mkdir(this.opts.stateDir, { recursive: true });
      await writeSnapshot(this.snapshotPath, this.tracker.state);
      this.lastSnapshotSeq = this.tracker.state.seq;
    });
    this.st.state = 'stopped';
    this.logger.info({ appliedSeq: this.tracker.appliedSeq, desiredSeq: this.tracker.state.seq }, 'agent stopped; maps stay pinned');
  }

  // ---- internals ----------------------------------------------------------

  /** One thing at a time: a pass, a drift check and stop never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** A plan must run before the maps hold the newest desired state. */
  private needsApply(): boolean {
    return this.tracker.changed || this.model.state.kind !== 'synced';
  }

  /** Whole commits after the desired state's seq up to `target`, each as its events (ending with its marker). */
  private async *readCommits(target: number): AsyncGenerator<RautaEvent[]> {
    const batch = this.opts.readBatch ?? 1000;
    let next = this.tracker.state.seq + 1;
    let pending: RautaEvent[] = [];
    while (next <= target) {
      const events = await this.opts.log.read(next, Math.min(batch, target - next + 1));
      if (events.length === 0) break;
      this.st.eventsRead += events.length;
      next = events[events.length - 1]!.seq + 1;
      this.lastReadSeq = Math.max(this.lastReadSeq, next - 1);
      for (const e of events) {
        pending.push(e);
        if (isCommitMarker(e)) {
          yield pending;
          pending = [];
        }
      }
    }
    // An incomplete commit is read again next time: the desired state's seq did not pass it.
  }

  private async reconcilePass(req: PassRequest): Promise<void> {
    if (this.stopped) return;
    if (req.replan === 'everything') this.model.distrust();
    else if (req.replan) this.tracker.touch(req.replan.routes);
    let failed = false;
    let foldedSinceAttempt = false;
    let attempted = false;
    try {
      const head = await this.opts.log.head();
      this.st.headSeq = Math.max(this.st.headSeq, head);
      for await (const events of this.readCommits(head)) {
        this.tracker.apply(events);
        const marker = events[events.length - 1]!;
        if (marker.type === 'CommitRejected') this.reportRejected(marker);
        if (!this.needsApply()) {
          // Nothing to write (a rejected commit, or one that changed nothing): the maps hold this seq too.
          this.tracker.markApplied();
          this.converged();
        } else if (!failed) {
          attempted = true;
          failed = !(await this.applyDesired(this.retry.failures > 0 ? 'retry' : 'commit'));
          foldedSinceAttempt = false;
        } else {
          foldedSinceAttempt = true;
        }
        await this.maybeSnapshot();
      }
    } catch (err) {
      this.fail('log', err);
      return;
    }
    // One attempt against the newest desired state: after commits that arrived
    // behind a failure, for a replan, or when a retry is due with no new commit.
    if (this.needsApply() && (foldedSinceAttempt || (!attempted && (req.retryDue || req.replan !== null)))) {
      await this.applyDesired(req.replan !== null && this.retry.failures === 0 ? 'replan' : 'retry');
    }
    if (!this.needsApply()) this.converged();
  }

  private reportRejected(marker: Extract<RautaEvent, { type: 'CommitRejected' }>): void {
    const errors = marker.errors;
    this.logger.warn(
      { commit: marker.commit, seq: marker.seq, errors: errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`) },
      `commit ${marker.commit.slice(0, 12)} rejected (${errors.length} error(s)); staying on ${this.tracker.state.commit?.slice(0, 12) ?? 'no commit'}`,
    );
    this.emit('rejected', { commit: marker.commit, seq: marker.seq, errors });
  }

  /** The maps hold the newest desired state without a plan: whatever failed before (a log read, a lookup) is over. */
  private converged(): void {
    if (this.st.state === 'failing' || this.st.state === 'idle') this.recovered();
  }

  private recovered(): void {
    if (this.st.lastError !== null) this.logger.info({ previous: this.st.lastError.message }, 'recovered');
    this.st.state = 'ready';
    this.st.lastError = null;
    this.retry.recovered();
  }

  /** Plan the newest desired state against the map model (read back when unknown) and apply it. True on success. */
  private async applyDesired(reason: string): Promise<boolean> {
    let plan: Plan;
    let nexthops: NexthopLookup;
    let scopeRoutes: number | null = null;
    try {
      const from = this.model.forPlan();
      nexthops = await this.opts.nexthops(this.tracker.index.backendIps());
      let scope: PlanScope | undefined;
      const touched = from.kind === 'synced' ? this.tracker.touched(nexthops) : undefined;
      if (touched) {
        scope = { ...touched, index: this.tracker.index };
        scopeRoutes = touched.routes.length;
      }
      plan = planChanges(from.applied, dataplaneOf({ routes: this.tracker.routes, listeners: this.tracker.state.listeners }, nexthops), { scope });
    } catch (err) {
      this.model.distrust(); // the maps are as modelled, but after a failure the next plan checks everything
      this.fail(`plan (${reason})`, err);
      return false;
    }
    if (plan.summary.missingNexthops.length > 0) {
      this.logger.warn(
        { missing: plan.summary.missingNexthops.slice(0, 20), count: plan.summary.missingNexthops.length },
        'backends without a nexthop MAC: their traffic is passed to the kernel',
      );
    }
    const result = this.runPlan(plan, reason, null);
    if (result instanceof Error) return false;
    this.tracker.markApplied(nexthops);
    this.noteSuccess(plan, result, reason, true, scopeRoutes);
    return true;
  }

  /** Apply with progress and bookkeeping, through the map model (`repairOf`: a drift check's read-back); the error (already reported) on failure. */
  private runPlan(plan: Plan, reason: string, repairOf: AppliedState | null): ApplyResult | Error {
    const every = this.opts.progressEvery ?? 2000;
    const big = plan.ops.length >= every;
    const prevState = this.st.state;
    this.st.state = 'applying';
    if (big) {
      this.logger.info({ reason, ops: plan.ops.length, summary: plan.summary }, 'applying a large plan');
      this.emit('progress', { reason, done: 0, total: plan.ops.length });
    }
    const applyOpts = {
      progressEvery: every,
      onProgress: big
        ? (done: number, total: number) => {
            this.logger.info({ reason, done, total }, 'apply progress');
            this.emit('progress', { reason, done, total });
          }
        : undefined,
    };
    try {
      const result = repairOf ? this.model.repair(repairOf, plan.ops, applyOpts) : this.model.commit(plan.ops, applyOpts);
      this.opsWritten += result.ops;
      return result;
    } catch (err) {
      this.st.state = prevState;
      if (err instanceof ApplyError) {
        this.st.rollbacks++;
        const desired = this.tracker.state;
        this.emit('rolledBack', { reason, seq: desired.seq, commit: desired.commit, error: err });
      }
      this.fail(`apply (${reason})`, err);
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  private noteSuccess(plan: Plan, result: ApplyResult, reason: string, clearFailure: boolean, scopeRoutes: number | null = null): void {
    const disruption = plan.routes.reduce((m, r) => (r.change === 'removed' || r.change === 'added' ? m : Math.max(m, r.disruption)), 0);
    if (plan.ops.length > 0 || this.st.lastPlan === null) {
      const report: AgentPlanReport = {
        reason,
        ops: result.ops,
        bytesWritten: result.bytesWritten,
        durationMs: result.durationMs,
        disruption,
        scopeRoutes,
        summary: plan.summary,
      };
      this.st.lastPlan = report;
    }
    if (plan.ops.length > 0) this.st.applies++;
    this.st.lastApplyAt = new Date().toISOString();
    if (clearFailure) this.recovered();
    else this.st.state = 'failing';
    const desired = this.tracker.state;
    if (plan.ops.length > 0) {
      this.logger.info(
        {
          reason,
          seq: desired.seq,
          commit: desired.commit,
          bytes: result.bytesWritten,
          ms: Math.round(result.durationMs * 10) / 10,
          disruption,
          scopeRoutes,
          ...plan.summary,
        },
        'applied',
      );
    }
    this.emit('applied', { reason, seq: desired.seq, commit: desired.commit, result, plan, scopeRoutes });
  }

  /** Record a failure: status failing with the error, next attempt after the backoff. Returns the delay. */
  private fail(what: string, err: unknown): number {
    const delay = this.retry.failed();
    this.st.lastError = errorReport(err);
    this.st.state = 'failing';
    const incomplete = err instanceof ApplyError && !err.rolledBack;
    const log = incomplete ? this.logger.error.bind(this.logger) : this.logger.warn.bind(this.logger);
    log(
      { err, failures: this.retry.failures, retryInMs: delay, appliedCommit: this.tracker.appliedCommit },
      incomplete
        ? `${what} failed AND its rollback was incomplete: the maps may be half-changed; they will be read back and replanned`
        : `${what} failed; staying on the last good commit, retrying`,
    );
    this.scheduler.poke();
    return delay;
  }

  private async checkDriftNow(): Promise<DriftReport> {
    this.st.driftChecks++;
    const target: AppliedTarget | undefined = this.tracker.lastApplied();
    if (target === undefined) return { repairs: 0, ops: 0, details: [] };
    const real = this.model.readAll();
    const plan = planChanges(real, dataplaneOf(target, target.nexthops), { verifyTables: true });
    const report: DriftReport = { repairs: 0, ops: plan.ops.length, details: [] };
    if (plan.ops.length > 0) {
      const s = plan.summary;
      for (const r of plan.routes) report.details.push(`${r.rule ?? `${r.method} (key ${r.id})`}: ${r.change}${r.reason ? ` (${r.reason})` : ''}`);
      const extra: Array<[number, string]> = [
        [s.listenersSet, 'listeners missing'],
        [s.listenersDeleted, 'listeners extra'],
        [s.nexthopsSet, 'nexthops missing or wrong'],
        [s.nexthopsDeleted, 'nexthops extra'],
        [s.orphanTablesDeleted, 'orphan tables'],
      ];
      for (const [n, what] of extra) if (n > 0) report.details.push(`${what}: ${n}`);
      report.repairs = plan.routes.length + s.listenersSet + s.listenersDeleted + s.nexthopsSet + s.nexthopsDeleted + s.orphanTablesDeleted;
      this.logger.warn(
        { repairs: report.repairs, ops: plan.ops.length, details: report.details.slice(0, 50) },
        'drift: the maps differ from the last applied state; repairing',
      );
      const result = this.runPlan(plan, 'drift', real);
      if (result instanceof Error) return report;
      this.st.driftRepairs += report.repairs;
      this.emit('drift', { repairs: report.repairs, ops: plan.ops.length, details: report.details });
      // A repair of the last good state does not end a failure to apply a newer one.
      this.noteSuccess(plan, result, 'drift', !this.needsApply());
    } else {
      this.model.observed(real);
    }
    // The neighbour table moves on its own: a changed nexthop is an update, not drift.
    try {
      const nexthops = await this.opts.nexthops(this.tracker.index.backendIps());
      if (changedMacs(target.nexthops, nexthops).length > 0) {
        if (this.retry.failures === 0) await this.applyDesired('nexthops');
        else this.model.distrust(); // the retry plans everything, nexthops included
      }
    } catch (err) {
      this.model.distrust();
      this.fail('nexthops lookup', err);
    }
    return report;
  }

  private async maybeSnapshot(): Promise<void> {
    const every = this.opts.snapshotEvery ?? 100;
    const desired = this.tracker.state;
    if (desired.seq - this.lastSnapshotSeq < every) return;
    try {
      await writeSnapshot(this.snapshotPath, desired);
      this.lastSnapshotSeq = desired.seq;
      this.logger.debug({ seq: desired.seq, path: this.snapshotPath }, 'snapshot written');
    } catch (err) {
      // A missed snapshot only costs replay time on the next start.
      this.logger.warn({ err }, 'snapshot write failed');
    }
  }
}
