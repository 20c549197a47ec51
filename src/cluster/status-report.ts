// `rauta status` as data: one row per node from the registry (or from an
// embedded node's /status), lag measured against the current log head, stale
// nodes marked, and the verdict scripts use: a live node that is behind or
// failing, or no live node at all, makes the check fail. Pure: no I/O.
import type { HealthStatus } from '../agent/agent-status.js';
import type { NodeView } from './node-registry.js';

export interface StatusRow {
  node: string;
  commit: string | null;
  seq: number;
  /** head - applied seq, against the current head */
  lag: number;
  /** the agent's last published state (see live) */
  state: string;
  live: boolean;
  lastError: string | null;
  lastSeen: string;
  /** seconds since lastSeen */
  ageSeconds: number | null;
  lastApplyAt: string | null;
  version: string;
  problem: 'behind' | 'failing' | null;
  /** backend health checks on the node: null when it runs none */
  health: HealthStatus | null;
}

export interface StatusReport {
  source: string;
  head: number;
  nodes: StatusRow[];
  live: number;
  stale: number;
  /** one line per live node that is behind or failing */
  problems: string[];
  /** 0 when at least one node is live and every live node is on the head and not failing, else 1 */
  exitCode: 0 | 1;
}

export function buildStatusReport(source: string, head: number, nodes: readonly NodeView[], now = new Date()): StatusReport {
  const rows: StatusRow[] = nodes.map((n) => {
    const lag = Math.max(0, head - n.appliedSeq);
    const seen = Date.parse(n.lastSeen);
    const failing = n.state === 'failing' || (n.lastError !== null && n.consecutiveFailures > 0);
    const problem = !n.live ? null : failing ? 'failing' : lag > 0 ? 'behind' : null;
    return {
      node: n.node,
      commit: n.appliedCommit,
      seq: n.appliedSeq,
      lag,
      state: n.state,
      live: n.live,
      lastError: n.lastError ? `${n.lastError.code}: ${n.lastError.message}` : null,
      lastSeen: n.lastSeen,
      ageSeconds: Number.isFinite(seen) ? Math.max(0, Math.round((now.getTime() - seen) / 1000)) : null,
      lastApplyAt: n.lastApplyAt,
      version: n.version,
      problem,
      health: n.health ?? null,
    };
  });
  const problems = rows
    .filter((r) => r.problem)
    .map((r) => (r.problem === 'failing' ? `${r.node} is failing: ${r.lastError ?? r.state}` : `${r.node} is behind: seq ${r.seq} of ${head} (lag ${r.lag})`));
  const live = rows.filter((r) => r.live).length;
  // Nothing live is nothing serving the routes: a finding, not "nothing is behind".
  if (live === 0) {
    problems.unshift(
      rows.length === 0
        ? 'no live node: none is registered (start `rauta agent` on each node)'
        : `no live node: all ${rows.length} registered node(s) are stale (no heartbeat)`,
    );
  }
  return { source, head, nodes: rows, live, stale: rows.length - live, problems, exitCode: problems.length > 0 ? 1 : 0 };
}

function ago(s: number | null): string {
  if (s === null) return '-';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** The human table: node, commit, seq, lag, state, last error, last seen; stale nodes marked. */
export function renderStatusTable(r: StatusReport): string {
  const header = ['NODE', 'COMMIT', 'SEQ', 'LAG', 'STATE', 'UNHEALTHY', 'LAST SEEN', 'LAST ERROR'];
  const body = r.nodes.map((n) => [
    n.node,
    n.commit ? n.commit.slice(0, 12) : '-',
    String(n.seq),
    String(n.lag),
    n.live ? n.state + (n.problem === 'behind' ? ' (behind)' : '') : `STALE (last: ${n.state})`,
    n.health ? `${n.health.unhealthy.length}/${n.health.checks}` : '-',
    ago(n.ageSeconds),
    n.lastError ? clip(n.lastError, 60) : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [`log ${r.source}: head seq ${r.head}; ${r.live} live node(s), ${r.stale} stale`];
  if (r.nodes.length === 0) out.push('no nodes registered (start `rauta agent` on each node)');
  else out.push(line(header), ...body.map(line));
  for (const n of r.nodes) {
    for (const u of n.health?.unhealthy ?? [])
      out.push(`~ ${n.node}: ${u.backend} unhealthy (${u.check}, routes ${u.routes.join(', ')}) since ${u.since}: ${u.reason}`);
    if (n.health && n.health.failOpen.length > 0) out.push(`~ ${n.node}: every backend fails in ${n.health.failOpen.join(', ')}: kept whole (fail open)`);
  }
  for (const p of r.problems) out.push(`! ${p}`);
  return `${out.join('\n')}\n`;
}
