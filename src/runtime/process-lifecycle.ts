// The shape every long-running command shares (`run`, `watch`, `agent`): what was
// opened is closed in reverse order on the way out, also when start-up fails, and
// the first SIGTERM/SIGINT asks for a graceful stop (a second one only warns: the
// current apply or job is finished first).
import type { Logger } from 'pino';

export interface ProcessLifecycle {
  /** steps run in reverse order by closeAll(); push as things are opened */
  cleanups: Array<() => Promise<void> | void>;
  /** runs (and empties) the cleanups, logging a failed step instead of stopping */
  closeAll(): Promise<void>;
  /** resolves on the first signal */
  stopSignal: Promise<void>;
  isStopping(): boolean;
}

export function processLifecycle(logger: Logger, signals: NodeJS.Signals[], stopMessage: string): ProcessLifecycle {
  const cleanups: ProcessLifecycle['cleanups'] = [];
  const closeAll = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.warn({ err }, 'shutdown step failed');
      }
    }
  };
  let stopping = false;
  let stopRequested: () => void = () => {};
  const stopSignal = new Promise<void>((r) => (stopRequested = r));
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return void logger.warn({ signal: sig }, 'already stopping: finishing the current work first');
    stopping = true;
    logger.info({ signal: sig }, stopMessage);
    stopRequested();
  };
  for (const s of signals) process.on(s, onSignal);
  cleanups.push(() => {
    for (const s of signals) process.off(s, onSignal);
  });
  return { cleanups, closeAll, stopSignal, isStopping: () => stopping };
}

/**
 * After a graceful stop: exit with `code` even if a connection to an unreachable Redis
 * still retries in the background (its reconnect timers would keep the process alive
 * after "stopped"). Everything that matters was closed or flushed by then.
 */
export function exitAfterStop(code: number, graceMs = 1000): void {
  setTimeout(() => process.exit(code), graceMs).unref();
}
