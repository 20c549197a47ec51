// What a node agent reports: to `rauta status`, the metrics endpoint, Redis
// heartbeats. Plain JSON data.
import type { FailedOp } from '../dataplane/apply.js';
import type { PlanSummary } from '../plan/plan.js';
import type { TargetReport } from '../health/health-monitor.js';

/**
 * starting: loading the snapshot and reading the maps back; ready: the maps
 * hold the newest accepted commit; applying: a transaction is running;
 * failing: the last apply failed (the maps stay on the last good commit,
 * retrying with backoff); stopped: stop() returned.
 */
export type AgentState = 'idle' | 'starting' | 'ready' | 'applying' | 'failing' | 'stopped';

export interface AgentError {
  code: string;
  message: string;
  /** the op that failed, for apply failures */
  op: FailedOp | null;
  errno: number | null;
  /** false: a rollback inverse failed too and the maps were re-read */
  rolledBack: boolean | null;
  /** ISO time */
  at: string;
}

export interface AgentRejection {
  commit: string;
  seq: number;
  /** each with "file:line:col" in `where` */
  errors: Array<{ where: string; file: string; line: number; col: number; message: string }>;
}

export interface AgentPlanReport {
  /** why this plan ran: start, commit, retry, replan, drift, nexthops */
  reason: string;
  ops: number;
  bytesWritten: number;
  durationMs: number;
  /** largest share of Maglev slots moved for one route that kept existing (0..1) */
  disruption: number;
  /** routes the plan looked at when scoped to what changed since the last good apply; null: a full plan over every route */
  scopeRoutes: number | null;
  summary: PlanSummary;
}

export interface AgentStatus {
  node: string;
  /** seq of the desired state the maps hold */
  appliedSeq: number;
  /** last accepted commit the maps hold */
  appliedCommit: string | null;
  /** seq of the newest folded event (>= appliedSeq; greater while failing) */
  desiredSeq: number;
  headSeq: number;
  /** headSeq - appliedSeq */
  lag: number;
  state: AgentState;
  lastError: AgentError | null;
  lastRejected: AgentRejection | null;
  /** ISO time of the last successful apply (empty plans included) */
  lastApplyAt: string | null;
  applies: number;
  rollbacks: number;
  driftRepairs: number;
  driftChecks: number;
  consecutiveFailures: number;
  /** ISO time of the next retry while failing */
  nextRetryAt: string | null;
  /** events read from the log since this agent object was created */
  eventsRead: number;
  lastPlan: AgentPlanReport | null;
  /** backend health checks on this node; null when no route has a healthCheck or health is off */
  health: HealthStatus | null;
}

export interface HealthStatus {
  /** checks this node runs: one per backend and check path */
  checks: number;
  /** the failing ones, with why and since when */
  unhealthy: TargetReport[];
  /** routes whose backends all fail: kept whole (fail open), so their clients still reach something */
  failOpen: string[];
}
