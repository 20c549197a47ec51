// What tells the node agent's scheduler that the event log grew. Pluggable:
// embedded (`rauta run`) the log's own wait-for-head below; multi-node
// (`rauta agent`) a BullMQ wake-up job per commit (src/cluster/reconcile-job.ts).
// A source only wakes; reading the log, retrying and timers are the
// scheduler's, so a failure behaves the same whatever woke the agent.
import type { EventLog } from '../events/event-log.js';
import type { AgentStatus } from './agent-status.js';

export interface WakeResult {
  /** the node's status once the pass ended */
  status: AgentStatus;
  /** map operations written between the wake-up and the end of its pass (0: the maps already held it, or the apply failed) */
  ops: number;
}

/** The agent, as a wake source sees it. */
export interface WakeTarget {
  /** the last seq the agent has read from the log */
  readonly readSeq: number;
  /**
   * The log holds `upToSeq` (undefined: look at its head). Resolves once a
   * pass begun after this call has read the log to its head, folded it and
   * tried to apply what changed: the apply may have failed (status says so;
   * the scheduler retries it on its backoff).
   */
  wake(upToSeq?: number): Promise<WakeResult>;
  /** The source itself failed (it could not watch the log): counted like any failure. Returns the ms until the retry is due. */
  failed(what: string, err: unknown): number;
}

export interface WakeSource {
  /** Wake `target` whenever the log grows, until `signal` aborts; then let go of what it holds (finish a job in hand) and resolve. Never rejects. */
  run(target: WakeTarget, signal: AbortSignal): Promise<void>;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Embedded mode: the log's wait-for-head (fs.watch + poll for the file log). Each new head wakes the agent once. */
export function logHeadWakeSource(log: Pick<EventLog, 'waitForHead'>): WakeSource {
  return {
    async run(target, signal) {
      let seen = target.readSeq;
      while (!signal.aborted) {
        let head: number;
        try {
          head = await log.waitForHead(Math.max(seen, target.readSeq), signal);
        } catch (err) {
          if (signal.aborted) return;
          await sleep(target.failed('log', err), signal);
          continue;
        }
        if (head > seen) {
          seen = head;
          await target.wake(head);
        }
      }
    },
  };
}
