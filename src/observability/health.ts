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

export function agentHealth(status: AgentStatus, watcher?: WatcherHealth): Health {
  const agentOk = status.state === 'ready' || status.state === 'applying';
  const watcherOk = !watcher || watcher.lastError === null;
  const ok = agentOk && watcherOk;
  const why = !agentOk ? (status.lastError?.message ?? `agent is ${status.state}`) : !watcherOk ? `watcher: ${watcher?.lastError}` : null;
  return {
    ok,
    body: {
      status: ok ? 'ok' : status.state === 'ready' ? 'failing' : status.state,
      ...(why ? { error: why } : {}),
      node: status.node,
      appliedSeq: status.appliedSeq,
      appliedCommit: status.appliedCommit,
      headSeq: status.headSeq,
      lag: status.lag,
      lastApplyAt: status.lastApplyAt,
      lastError: status.lastError,
      nextRetryAt: status.nextRetryAt,
      lastRejected: status.lastRejected,
      ...(watcher ? { watcher } : {}),
    },
  };
}
