// The watcher's handle on the Redis log that survives losing the writer lock.
// The lock has a TTL; a Redis outage longer than it (or a restart that drops
// it) leaves the watcher lockless, and the log then refuses its appends
// (fencing). Instead of dying, the watcher takes the lock again as soon as it
// is free and resumes from the log (the commit processor re-reads the last
// marker, so nothing is appended twice). While another watcher holds the lock,
// this one keeps trying: a standby.
import type { EventLog, LogWarnings } from '../events/event-log.js';
import { openRedisLog } from '../events/redis-log.js';
import type { RautaError } from '../errors.js';

type WatcherLog = Pick<EventLog, 'append' | 'head' | 'lastCommitMarker' | 'lastAccepted'>;

export interface WriterLogOptions {
  url: string;
  prefix: string;
  logger: LogWarnings & { info(obj: object, msg: string): void };
  /** called once the lock is held again (trigger a watcher run) */
  onRelocked?: () => void;
  retryMs?: number;
  lockTtlMs?: number;
}

export class WriterLog implements WatcherLog {
  private current: EventLog;
  private reopening: Promise<void> | null = null;
  private closed = false;

  private constructor(
    first: EventLog,
    private readonly opts: WriterLogOptions,
  ) {
    this.current = first;
  }

  /**
   * Opens the log with the writer lock. Unreachable Redis or a wrong password fail at once (a
   * clear error at start). A lock held by another writer is waited for, as a standby: after a
   * crash the old lock frees itself within its TTL, and a restarted watcher then takes over.
   */
  static async open(opts: WriterLogOptions & { signal?: AbortSignal }): Promise<WriterLog> {
    let self: WriterLog | null = null;
    for (let waiting = false; ; waiting = true) {
      try {
        const first = await openRedisLog(opts.url, {
          prefix: opts.prefix,
          writer: true,
          logger: opts.logger,
          lockTtlMs: opts.lockTtlMs,
          onLockLost: (err) => self?.lost(err),
        });
        if (waiting) opts.logger.info({ location: first.location }, 'event log writer lock taken; this watcher is the writer now');
        self = new WriterLog(first, opts);
        return self;
      } catch (err) {
        if ((err as RautaError).code !== 'RAUTA_ERR_LOG_LOCKED' || opts.signal?.aborted) throw err;
        if (!waiting) opts.logger.warn({ err: (err as Error).message }, 'another watcher holds the event log writer lock: waiting as a standby until it frees');
        await new Promise((r) => setTimeout(r, opts.retryMs ?? 1000));
      }
    }
  }

  get location(): string {
    return this.current.location;
  }

  private lost(err: RautaError): void {
    if (this.closed || this.reopening) return;
    this.opts.logger.warn({ err: err.message }, 'lost the event log writer lock; taking it again once it is free');
    const old = this.current;
    this.reopening = (async () => {
      await old.close().catch(() => undefined);
      while (!this.closed) {
        try {
          const next = await openRedisLog(this.opts.url, {
            prefix: this.opts.prefix,
            writer: true,
            logger: this.opts.logger,
            lockTtlMs: this.opts.lockTtlMs,
            onLockLost: (e) => this.lost(e),
          });
          if (this.closed) {
            await next.close();
            return;
          }
          this.current = next;
          this.opts.logger.info({ location: next.location }, 'event log writer lock held again; resuming');
          this.reopening = null;
          this.opts.onRelocked?.();
          return;
        } catch {
          await new Promise((r) => setTimeout(r, this.opts.retryMs ?? 1000));
        }
      }
    })();
  }

  append(...args: Parameters<EventLog['append']>): ReturnType<EventLog['append']> {
    return this.current.append(...args);
  }
  head(): Promise<number> {
    return this.current.head();
  }
  lastCommitMarker(): ReturnType<EventLog['lastCommitMarker']> {
    return this.current.lastCommitMarker();
  }
  lastAccepted(): ReturnType<EventLog['lastAccepted']> {
    return this.current.lastAccepted();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.reopening;
    await this.current.close();
  }
}
