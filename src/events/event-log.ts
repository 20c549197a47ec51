// The event log: one interface, two backends (file: embedded default; Redis Streams: multi-node).
// Every event has a gap-free seq starting at 1; an append is one atomic batch (one commit).
import type { RautaEvent, RautaEventBody } from '../routes/route-events.js';

export interface AppendOptions {
  /** Fail with RAUTA_ERR_LOG_SEQUENCE unless the head is exactly this (0 for an empty log). */
  expectedHead?: number;
}

export interface EventLog {
  /** Appends the batch atomically (all or nothing, also across a crash) and returns it numbered. Writers only. */
  append(batch: RautaEventBody[], opts?: AppendOptions): Promise<RautaEvent[]>;
  /** Events with seq >= fromSeq, ascending, at most `limit`. */
  read(fromSeq: number, limit: number): Promise<RautaEvent[]>;
  /** Seq of the last event, 0 when empty. */
  head(): Promise<number>;
  /**
   * Resolves with the head once it is > afterSeq. With timeoutMs, resolves with the current
   * head (possibly <= afterSeq) when the time is up; an aborted signal rejects with its reason.
   */
  waitForHead(afterSeq: number, signal?: AbortSignal, timeoutMs?: number): Promise<number>;
  /** The last CommitAccepted or CommitRejected event: where a restarting watcher resumes. */
  lastCommitMarker(): Promise<RautaEvent | null>;
  /** The last CommitAccepted event: the last good commit. */
  lastAccepted(): Promise<RautaEvent | null>;
  /** Releases the writer lock (if held), timers and connections. */
  close(): Promise<void>;
  /** Human-readable location ("file:/var/lib/rauta/events.log", "redis://host:6379 prefix rauta"). */
  readonly location: string;
}

/** What the log uses to warn (a torn tail truncated, a stale lock taken over). pino loggers fit. */
export interface LogWarnings {
  warn(obj: object, msg: string): void;
}

/** Default sink: one line on stderr, so a warning is never lost when no logger is passed. */
export const stderrWarnings: LogWarnings = {
  warn(obj, msg) {
    process.stderr.write(`rauta: warning: ${msg} ${JSON.stringify(obj)}\n`);
  },
};

export interface OpenEventLogOptions {
  /** Take the single-writer lock; readers (agents) never need it. */
  writer?: boolean;
  logger?: LogWarnings;
  /** Redis: key prefix (default "rauta"). */
  prefix?: string;
  /** Redis: writer lock TTL in ms (default 10000, renewed every third of it). */
  lockTtlMs?: number;
  /** Redis: bound on connecting at open, in ms (default 3000). */
  connectTimeoutMs?: number;
  /** Redis: called when the writer loses its lock (its appends then fail). */
  onLockLost?: (err: Error) => void;
  /** File reader: a missing file is an empty log that may appear later (default: error). */
  allowMissing?: boolean;
  /** File reader: poll interval behind fs.watch, in ms (default 200). */
  pollMs?: number;
}

/** Opens "file:PATH", a plain PATH, or "redis://..." / "rediss://...". */
/** A log being rebuilt from Git beside the live one, swapped in whole or dropped. */
export interface EventLogRebuild {
  /** A writer on the fresh log: append the events rebuilt from Git here. */
  log: EventLog;
  /** Puts the rebuilt log in place of the live one in one atomic step; releases the lock. */
  commit(): Promise<void>;
  /** Drops the rebuilt log; the live one stays as it was. */
  abort(): Promise<void>;
}

export async function openEventLog(spec: string, opts: OpenEventLogOptions = {}): Promise<EventLog> {
  if (/^rediss?:\/\//.test(spec)) {
    const { openRedisLog } = await import('./redis-log.js');
    return openRedisLog(spec, opts);
  }
  const { openFileLog } = await import('./file-log.js');
  return openFileLog(spec.startsWith('file:') ? spec.slice('file:'.length) : spec, opts);
}
