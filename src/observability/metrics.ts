// Prometheus metrics of one node: the agent's reconciles (count, duration),
// where it is in the log (applied seq and commit, lag behind the head),
// rollbacks, drift repairs, rejected commits, and the data path's per-CPU
// METRICS counters summed over CPUs, one series per slot name. Values that
// have a source of truth (status, kernel counters) are read at scrape time;
// only the things that happen (applies, rollbacks, repairs) are counted here.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentStatus } from '../agent/agent-status.js';
import type { AppliedEvent, DriftEvent, RejectedEvent, RolledBackEvent } from '../agent/node-agent.js';
import { METRIC_NAMES, type MetricName } from '../model/metrics.js';
import type { FlowCensus } from '../dataplane/flow-reaper.js';
import type { TargetReport } from '../health/health-monitor.js';

/** The part of NodeAgent the metrics read (a real NodeAgent fits). */
export interface MetricsSource {
  status(): AgentStatus;
  on(event: 'applied', fn: (e: AppliedEvent) => void): unknown;
  on(event: 'rolledBack', fn: (e: RolledBackEvent) => void): unknown;
  on(event: 'drift', fn: (e: DriftEvent) => void): unknown;
  on(event: 'rejected', fn: (e: RejectedEvent) => void): unknown;
}

export interface NodeMetricsOptions {
  agent: MetricsSource;
  /** the XDP counters summed over CPUs (RautaMaps.readMetrics); omitted: no rauta_xdp_* series */
  readXdpCounters?: () => Record<MetricName, number>;
  /** connections by state from the flow sweeps (NodeDataplane.flows); omitted: no rauta_flows series */
  readFlows?: () => { census: FlowCensus | null; reaped: number; orphans: number };
  /** every backend health check with its state (NodeHealth.targets); omitted: no rauta_backend_* series */
  readHealth?: () => TargetReport[];
  /** also export process metrics (CPU, memory, event loop lag) */
  processMetrics?: boolean;
}

export interface NodeMetrics {
  registry: Registry;
  /** the Prometheus text exposition */
  render(): Promise<string>;
  contentType: string;
}

const AGENT_STATES = ['idle', 'starting', 'ready', 'applying', 'failing', 'stopped'] as const;

export function createNodeMetrics(opts: NodeMetricsOptions): NodeMetrics {
  const registry = new Registry();
  const { agent } = opts;
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'rauta_' });

  const reconciles = new Counter({
    name: 'rauta_reconciles_total',
    help: 'Plans applied to the maps (empty plans included), by reason (start, commit, retry, drift, nexthops) and result',
    labelNames: ['reason', 'result'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'rauta_reconcile_duration_seconds',
    help: 'Time to apply one plan to the maps (one transaction), by reason',
    labelNames: ['reason'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [registry],
  });
  const ops = new Counter({ name: 'rauta_map_operations_total', help: 'Map writes and deletes applied', registers: [registry] });
  const rollbacks = new Counter({
    name: 'rauta_rollbacks_total',
    help: 'Applies that failed and were rolled back',
    labelNames: ['complete'] as const,
    registers: [registry],
  });
  const driftRepairs = new Counter({
    name: 'rauta_drift_repairs_total',
    help: 'Map entries found different from the last applied state and repaired',
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'rauta_rejected_commits_total',
    help: 'Commits that failed validation (the maps stayed on the last good commit)',
    registers: [registry],
  });

  agent.on('applied', (e) => {
    reconciles.inc({ reason: e.reason, result: 'applied' });
    duration.observe({ reason: e.reason }, e.result.durationMs / 1000);
    ops.inc(e.result.ops);
  });
  agent.on('rolledBack', (e) => {
    reconciles.inc({ reason: e.reason, result: 'rolled_back' });
    rollbacks.inc({ complete: String(e.error.rolledBack) });
  });
  agent.on('drift', (e) => driftRepairs.inc(e.repairs));
  agent.on('rejected', () => rejected.inc());

  // Read at scrape time from the agent's status.
  new Gauge({
    name: 'rauta_applied_seq',
    help: 'Event log seq the maps hold',
    registers: [registry],
    collect() {
      this.set(agent.status().appliedSeq);
    },
  });
  new Gauge({
    name: 'rauta_desired_seq',
    help: 'Newest event log seq folded into desired state',
    registers: [registry],
    collect() {
      this.set(agent.status().desiredSeq);
    },
  });
  new Gauge({
    name: 'rauta_log_head_seq',
    help: 'Newest seq in the event log',
    registers: [registry],
    collect() {
      this.set(agent.status().headSeq);
    },
  });
  new Gauge({
    name: 'rauta_lag_events',
    help: 'Events in the log the maps do not hold yet (head seq - applied seq)',
    registers: [registry],
    collect() {
      this.set(agent.status().lag);
    },
  });
  new Gauge({
    name: 'rauta_applied_commit_info',
    help: 'The commit the maps hold (value 1; the commit is the label)',
    labelNames: ['commit'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.set({ commit: agent.status().appliedCommit ?? 'none' }, 1);
    },
  });
  new Gauge({
    name: 'rauta_agent_state',
    help: 'The agent state (1 for the current one)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const now = agent.status().state;
      for (const s of AGENT_STATES) this.set({ state: s }, s === now ? 1 : 0);
    },
  });
  new Gauge({
    name: 'rauta_consecutive_failures',
    help: 'Failed applies since the last success',
    registers: [registry],
    collect() {
      this.set(agent.status().consecutiveFailures);
    },
  });

  const readXdp = opts.readXdpCounters;
  if (readXdp) {
    new Counter({
      name: 'rauta_xdp_packets_total',
      help: 'Data path counters (METRICS map, summed over CPUs), one series per slot: total, one outcome per packet (pass_* by reason, syn_cookie, routed, reply_*, to_backend, to_client, ...), connection events (backend_ack, closed, reset, keepalive_other_route)',
      labelNames: ['counter'] as const,
      registers: [registry],
      collect() {
        const values = readXdp();
        this.reset();
        for (const name of METRIC_NAMES) this.inc({ counter: name.toLowerCase() }, values[name]);
      },
    });
  }

  const readFlows = opts.readFlows;
  if (readFlows) {
    new Gauge({
      name: 'rauta_flows',
      help: 'Connections in FLOW_CACHE by state as of the last sweep (orphan: a backend side without its client side)',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const c = readFlows().census;
        if (!c) return;
        this.set({ state: 'syn_sent' }, c.synSent);
        this.set({ state: 'established' }, c.established);
        this.set({ state: 'replied' }, c.replied);
        this.set({ state: 'orphan' }, c.orphans);
      },
    });
    new Counter({
      name: 'rauta_flows_reaped_total',
      help: 'Flow state removed by the sweep: half-open or answered-in-place flows past RAUTA_HALF_OPEN_NS (reaped), backend sides without their client side (orphans)',
      labelNames: ['kind'] as const,
      registers: [registry],
      collect() {
        const f = readFlows();
        this.reset();
        this.inc({ kind: 'reaped' }, f.reaped);
        this.inc({ kind: 'orphans' }, f.orphans);
      },
    });
  }

  const readHealth = opts.readHealth;
  if (readHealth) {
    new Gauge({
      name: 'rauta_backend_healthy',
      help: "Health of each backend check on this node (1 healthy, 0 unhealthy: no new connections from the check's routes unless every backend of a route fails)",
      labelNames: ['backend', 'check'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const t of readHealth()) this.set({ backend: t.backend, check: t.check }, t.healthy ? 1 : 0);
      },
    });
    new Counter({
      name: 'rauta_backend_health_transitions_total',
      help: 'Health changes of each backend check since the agent started (either way)',
      labelNames: ['backend', 'check'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const t of readHealth()) this.inc({ backend: t.backend, check: t.check }, t.transitions);
      },
    });
  }

  return { registry, render: () => registry.metrics(), contentType: registry.contentType };
}
