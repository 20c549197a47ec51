// /healthz from the agent's status: 200 while the maps hold the newest good
// commit (or are being written), 503 with the error otherwise. A rejected
// commit is not ill health (the node correctly stays on the last good
// commit), but the body names it, file:line:col, so an operator sees why.
import type { AgentStatus } from '../agent/agent-status.js';
import type { Health } from './http-server.js';

export interface WatcherHealth {
  /** the last watcher run's error (unreadable repo, failed fetch), null once a run succeeds */
  lastError: string | null;
  lastRunAt: string | null;
}

/** The event log's backend as a node sees it (multi-node: Redis). */
export interface LogHealth {
  reachable: boolean;
  /** ISO time the connection was lost, null while reachable */
  since: string | null;
  /** the connection's last error */
  error: string | null;
}

export function agentHealth(status: AgentStatus, watcher?: WatcherHealth, log?: LogHealth): Health {
  const agentOk = status.state === 'ready' || status.state === 'applying';
  const watcherOk = !watcher || watcher.lastError === null;
  // Without the log the node cannot see new commits: its head and lag are unknown, not 0.
  const logOk = !log || log.reachable;
  const ok = agentOk && watcherOk && logOk;
  const why = !agentOk
    ? (status.lastError?.message ?? `agent is ${status.state}`)
    : !logOk
      ? `event log unreachable since ${log?.since ?? '?'}${log?.error ? ` (${log.error})` : ''}: this node keeps its last applied commit and cannot see new ones`
      : !watcherOk
        ? `watcher: ${watcher?.lastError}`
        : null;
  return {
    ok,
    body: {
      status: ok ? 'ok' : !agentOk ? (status.state === 'ready' ? 'failing' : status.state) : !logOk ? 'disconnected' : 'failing',
      ...(why ? { error: why } : {}),
      node: status.node,
      appliedSeq: status.appliedSeq,
      appliedCommit: status.appliedCommit,
      headSeq: logOk ? status.headSeq : null,
      lag: logOk ? status.lag : null,
      lastApplyAt: status.lastApplyAt,
      lastError: status.lastError,
      nextRetryAt: status.nextRetryAt,
      lastRejected: status.lastRejected,
      ...(watcher ? { watcher } : {}),
      ...(log ? { log } : {}),
    },
  };
}
