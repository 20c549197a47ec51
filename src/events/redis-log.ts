// Redis Streams backend of the event log (multi-node). Keys under `${prefix}:`:
//   events    stream; entry ID `${seq}-0` (explicit, so Redis itself refuses a duplicate or
//             out-of-order ID), one field `e` = the event body as JSON (the seq is the ID)
//   head      the last seq, written in the same script as the entries
//   marker    `${seq} ${json}` of the last CommitAccepted/CommitRejected (resume point)
//   accepted  `${seq} ${json}` of the last CommitAccepted
//   lock      the writer's lock value (SET NX PX, renewed); every append checks it (fencing)
// One Lua script does the lock check, the expectedHead check, all XADDs and the marker keys:
// Redis runs it atomically, so a batch is all or nothing and readers never see half of one.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { connectRedis, redactRedisUrl } from './redis-connect.js';
import type { Redis } from 'ioredis';
import { RautaError } from '../errors.js';
import type { RautaEvent, RautaEventBody } from '../routes/route-events.js';
import { stderrWarnings, type AppendOptions, type EventLog, type EventLogRebuild, type LogWarnings } from './event-log.js';
import { parseStoredEvent, rebuildHint, validateBatch } from './event-record.js';
import { waitUntilHead } from './wait-for.js';

export interface RedisLogOptions {
  prefix?: string;
  /** Take the writer lock and allow append (the watcher). Default false (a reader). */
  writer?: boolean;
  logger?: LogWarnings;
  /** Writer lock lifetime; renewed every third of it. A dead writer's lock frees after this. */
  lockTtlMs?: number;
  /** How long open() may take to connect before failing (no endless retry at startup). */
  connectTimeoutMs?: number;
  /** Called when the writer finds its lock gone or taken (its appends then fail). */
  onLockLost?: (err: RautaError) => void;
}

const APPEND = `
local holder = redis.call('GET', KEYS[5])
if holder ~= ARGV[1] then return {'LOCKED', holder or ''} end
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= head then return {'SEQUENCE', tostring(head)} end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local lastSeq = 0
if last then lastSeq = tonumber(string.match(last[1], '^(%d+)-')) end
if lastSeq ~= head then return {'CORRUPT', tostring(head), tostring(lastSeq)} end
local seq = head
for i = 3, #ARGV, 2 do
  seq = seq + 1
  local id = string.format('%d-0', seq)
  redis.call('XADD', KEYS[1], id, 'e', ARGV[i + 1])
  if ARGV[i] ~= '' then
    local v = string.format('%d ', seq) .. ARGV[i + 1]
    redis.call('SET', KEYS[3], v)
    if ARGV[i] == 'a' then redis.call('SET', KEYS[4], v) end
  end
end
redis.call('SET', KEYS[2], string.format('%d', seq))
return {'OK', tostring(head)}
`;

/** XREAD BLOCK slice: a waiting reader re-checks the head at least this often. */
const BLOCK_MS = 5000;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

// KEYS: main lock, then (events, head, marker, accepted) of main, then of rebuild, then rebuild lock
const SWAP = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'LOCKED' end
for i = 2, 5 do
  if redis.call('EXISTS', KEYS[i + 4]) == 1 then redis.call('RENAME', KEYS[i + 4], KEYS[i]) else redis.call('DEL', KEYS[i]) end
end
if redis.call('GET', KEYS[10]) == ARGV[2] then redis.call('DEL', KEYS[10]) end
return 'OK'
`;

function keysOf(prefix: string) {
  return {
    events: `${prefix}:events`,
    head: `${prefix}:head`,
    marker: `${prefix}:marker`,
    accepted: `${prefix}:accepted`,
    lock: `${prefix}:lock`,
  };
}

/** The log's connections: an in-flight append must not be sent twice after a reconnect (the caller re-checks instead). */
function connect(url: string, timeoutMs: number, what: string): Promise<Redis> {
  return connectRedis(url, {
    timeoutMs,
    purpose: `event log, ${what}`,
    options: { protocol: 2, maxRetriesPerRequest: 2, autoResendUnfulfilledCommands: false },
  });
}

export { redactRedisUrl };

class RedisEventLog implements EventLog {
  readonly location: string;
  private readonly keys: ReturnType<typeof keysOf>;
  private readonly where: string;
  private lockValue: string | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private lockLost: RautaError | null = null;
  private idleBlockers: Redis[] = [];
  private busyBlockers = new Set<Redis>();
  /** wake-ups of pending waitForHead calls, so close() ends them */
  private wakers = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly url: string,
    readonly prefix: string,
    private readonly redis: Redis,
    private readonly opts: RedisLogOptions,
    private readonly warnings: LogWarnings,
  ) {
    this.keys = keysOf(prefix);
    this.where = redactRedisUrl(url);
    this.location = `${this.where} prefix ${prefix}`;
  }

  private backendError(err: unknown, doing: string): RautaError {
    if (err instanceof RautaError) return err;
    return new RautaError(
      'RAUTA_ERR_LOG_BACKEND',
      `event log ${this.location}: ${doing} failed: ${(err as Error).message}; check that Redis is up and reachable`,
      { cause: err },
    );
  }

  async acquireLock(): Promise<void> {
    const ttl = this.opts.lockTtlMs ?? 10_000;
    const value = JSON.stringify({ token: randomUUID(), pid: process.pid, host: hostname(), since: new Date().toISOString() });
    let ok: string | null;
    try {
      ok = await this.redis.set(this.keys.lock, value, 'PX', ttl, 'NX');
    } catch (err) {
      throw this.backendError(err, 'taking the writer lock');
    }
    if (ok !== 'OK') {
      const [holder, pttl] = await Promise.all([this.redis.get(this.keys.lock), this.redis.pttl(this.keys.lock)]);
      let who = holder ?? '(released meanwhile)';
      try {
        const h = JSON.parse(holder ?? '') as { pid?: number; host?: string; since?: string };
        who = `pid ${h.pid} on ${h.host} since ${h.since}`;
      } catch {
        /* keep the raw value */
      }
      throw new RautaError(
        'RAUTA_ERR_LOG_LOCKED',
        `event log ${this.location} already has a writer (${who}; lock ${this.keys.lock} expires in ${pttl} ms unless renewed). ` +
          'Only one watcher may write a log: stop the other one; if it died, its lock frees itself after the TTL.',
      );
    }
    this.lockValue = value;
    this.renewTimer = setInterval(() => void this.renew(ttl), Math.max(50, Math.floor(ttl / 3)));
    this.renewTimer.unref();
  }

  private async renew(ttl: number): Promise<void> {
    if (!this.lockValue || this.lockLost) return;
    try {
      const ok = await this.redis.eval(RENEW, 1, this.keys.lock, this.lockValue, ttl);
      if (ok === 0) this.loseLock('the lock expired or was taken by another writer');
    } catch (err) {
      this.warnings.warn({ location: this.location, error: (err as Error).message }, `event log ${this.location}: renewing the writer lock failed; retrying`);
    }
  }

  private loseLock(why: string): void {
    if (this.lockLost) return;
    this.lockLost = new RautaError(
      'RAUTA_ERR_LOG_LOCKED',
      `event log ${this.location}: this writer lost its lock (${why}); refusing to append. Restart the watcher.`,
    );
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.warnings.warn({ location: this.location }, this.lockLost.message);
    this.opts.onLockLost?.(this.lockLost);
  }

  async append(batch: RautaEventBody[], opts: AppendOptions = {}): Promise<RautaEvent[]> {
    if (this.lockValue === null) {
      throw new RautaError('RAUTA_ERR_LOG_LOCKED', `event log ${this.location} was opened read-only; only the watcher (writer: true) appends`);
    }
    if (this.lockLost) throw this.lockLost;
    const bodies = validateBatch(batch, `event log ${this.location}`);
    if (bodies.length === 0) {
      if (opts.expectedHead !== undefined) {
        const head = await this.head();
        if (head !== opts.expectedHead) throw this.sequenceError(opts.expectedHead, head);
      }
      return [];
    }
    const argv: string[] = [this.lockValue, opts.expectedHead === undefined ? '' : String(opts.expectedHead)];
    for (const b of bodies) {
      argv.push(b.type === 'CommitAccepted' ? 'a' : b.type === 'CommitRejected' ? 'r' : '', JSON.stringify(b));
    }
    const k = this.keys;
    let reply: string[];
    try {
      reply = (await (this.redis as Redis & AppendCommand).rautaAppend(k.events, k.head, k.marker, k.accepted, k.lock, ...argv)) as string[];
    } catch (err) {
      throw this.backendError(err, 'append (outcome unknown: re-read head() / lastCommitMarker() before retrying)');
    }
    const [status, a, b] = reply;
    if (status === 'LOCKED') {
      this.loseLock(a ? 'another writer holds it now' : 'it expired');
      throw this.lockLost!;
    }
    if (status === 'SEQUENCE') throw this.sequenceError(opts.expectedHead ?? -1, Number(a));
    if (status === 'CORRUPT') {
      throw new RautaError(
        'RAUTA_ERR_LOG_CORRUPT',
        `event log ${this.location}: head key says ${a} but the stream ends at seq ${b}; ${rebuildHint(this.where, this.prefix)}`,
      );
    }
    const base = Number(a);
    return bodies.map((body, i) => ({ seq: base + 1 + i, ...body }) as RautaEvent);
  }

  private sequenceError(expected: number, head: number): RautaError {
    return new RautaError(
      'RAUTA_ERR_LOG_SEQUENCE',
      `event log ${this.location}: expected head ${expected} but the head is ${head}; the log moved, re-read lastCommitMarker() and resume from there`,
    );
  }

  async read(fromSeq: number, limit: number): Promise<RautaEvent[]> {
    const from = Math.max(1, Math.floor(fromSeq));
    if (limit <= 0) return [];
    let entries: Array<[string, string[]]>;
    try {
      entries = (await this.redis.xrange(this.keys.events, `${from}-0`, '+', 'COUNT', Math.floor(limit))) as Array<[string, string[]]>;
    } catch (err) {
      throw this.backendError(err, 'read');
    }
    return entries.map(([id, fields], i) => {
      const seq = Number(id.slice(0, id.indexOf('-')));
      const where = `event log ${this.location} entry ${id}`;
      if (seq !== from + i || !id.endsWith('-0')) {
        throw new RautaError('RAUTA_ERR_LOG_CORRUPT', `${where}: expected seq ${from + i} (a gap or a foreign entry); ${rebuildHint(this.where, this.prefix)}`);
      }
      const at = fields.indexOf('e');
      const body = at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
      if (body === undefined)
        throw new RautaError('RAUTA_ERR_LOG_CORRUPT', `${where}: field "e" (the event) is missing; ${rebuildHint(this.where, this.prefix)}`);
      return this.parseBody(seq, body, where);
    });
  }

  private parseBody(seq: number, body: string, where: string): RautaEvent {
    // the stored JSON has no seq (the ID is the seq): put it in front for validation
    return parseStoredEvent(
      body.startsWith('{') ? `{"seq":${seq}${body.length > 2 ? ',' : ''}${body.slice(1)}` : body,
      seq,
      where,
      rebuildHint(this.where, this.prefix),
    );
  }

  async head(): Promise<number> {
    try {
      return Number((await this.redis.get(this.keys.head)) ?? 0);
    } catch (err) {
      throw this.backendError(err, 'reading the head');
    }
  }

  private async markerAt(key: string): Promise<RautaEvent | null> {
    let v: string | null;
    try {
      v = await this.redis.get(key);
    } catch (err) {
      throw this.backendError(err, `reading ${key}`);
    }
    if (v === null) return null;
    const space = v.indexOf(' ');
    return this.parseBody(Number(v.slice(0, space)), v.slice(space + 1), `event log ${this.location} key ${key}`);
  }

  lastCommitMarker(): Promise<RautaEvent | null> {
    return this.markerAt(this.keys.marker);
  }

  lastAccepted(): Promise<RautaEvent | null> {
    return this.markerAt(this.keys.accepted);
  }

  /** A connection for XREAD BLOCK (it cannot serve other commands while blocked). */
  private async blocker(): Promise<Redis> {
    const idle = this.idleBlockers.pop();
    if (idle && idle.status === 'ready') return idle;
    idle?.disconnect();
    return connect(this.url, this.opts.connectTimeoutMs ?? 3000, 'blocking reader');
  }

  waitForHead(afterSeq: number, signal?: AbortSignal, timeoutMs?: number): Promise<number> {
    let stop = false;
    let current: Redis | null = null;
    let lastHead = 0;
    return waitUntilHead(
      afterSeq,
      // a wait rides out a Redis outage (the next read or append reports it)
      async () => {
        if (this.closed) throw new RautaError('RAUTA_ERR_LOG_BACKEND', `event log ${this.location} was closed while waiting for seq > ${afterSeq}`);
        return (lastHead = await this.head().catch(() => lastHead));
      },
      (wake) => {
        // XREAD BLOCK wakes us when an entry with ID > afterSeq-0 exists; re-block on errors
        const loop = async (): Promise<void> => {
          while (!stop && !this.closed) {
            try {
              const got = await this.blocker();
              if (stop || this.closed) {
                got.disconnect();
                break;
              }
              current = got;
              this.busyBlockers.add(current);
              const conn = current;
              // a command lost in a reconnect may never settle: a watchdog drops the connection
              let watchdog: NodeJS.Timeout | undefined;
              const res = await Promise.race([
                conn.xread('COUNT', 1, 'BLOCK', BLOCK_MS, 'STREAMS', this.keys.events, `${afterSeq}-0`),
                new Promise<never>((_, reject) => {
                  watchdog = setTimeout(() => reject(new Error('XREAD did not return')), BLOCK_MS + 3000);
                }),
              ]).finally(() => clearTimeout(watchdog));
              this.busyBlockers.delete(conn);
              this.idleBlockers.push(conn);
              current = null;
              // on an entry, and also every BLOCK_MS as a safety net, re-check the head
              wake();
              if (res !== null) await new Promise((r) => setTimeout(r, 10));
            } catch {
              if (current) {
                this.busyBlockers.delete(current);
                current.disconnect();
                current = null;
              }
              if (!stop) {
                wake();
                await new Promise((r) => setTimeout(r, 250));
              }
            }
          }
        };
        void loop();
        this.wakers.add(wake);
        return () => {
          this.wakers.delete(wake);
          stop = true;
          // a blocked XREAD cannot be cancelled: drop its connection
          if (current) {
            this.busyBlockers.delete(current);
            current.disconnect();
          }
        };
      },
      signal,
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.lockValue && !this.lockLost) {
      await this.redis.eval(RELEASE, 1, this.keys.lock, this.lockValue).catch(() => undefined);
    }
    for (const wake of this.wakers) wake();
    for (const b of [...this.idleBlockers, ...this.busyBlockers]) b.disconnect();
    this.idleBlockers = [];
    this.busyBlockers.clear();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** For rebuild: the lock value this writer holds. */
  heldLock(): string | null {
    return this.lockValue;
  }
}

/** The append script as a command: ioredis sends EVALSHA and falls back to EVAL after a Redis restart. */
interface AppendCommand {
  rautaAppend(...args: string[]): Promise<unknown>;
}

export async function openRedisLog(url: string, opts: RedisLogOptions = {}): Promise<EventLog> {
  const prefix = opts.prefix ?? 'rauta';
  const redis = await connect(url, opts.connectTimeoutMs ?? 3000, `prefix ${prefix}`);
  redis.defineCommand('rautaAppend', { numberOfKeys: 5, lua: APPEND });
  const log = new RedisEventLog(url, prefix, redis, opts, opts.logger ?? stderrWarnings);
  if (opts.writer) {
    try {
      await log.acquireLock();
    } catch (err) {
      redis.disconnect();
      throw err;
    }
  }
  return log;
}

/**
 * Starts rebuilding the log at `prefix` (for `rauta log rebuild`): holds the live log's writer
 * lock until commit/abort, so no watcher appends meanwhile. An empty rebuild resets the log.
 */
export async function beginRedisLogRebuild(url: string, opts: RedisLogOptions = {}): Promise<EventLogRebuild> {
  const prefix = opts.prefix ?? 'rauta';
  const main = (await openRedisLog(url, { ...opts, writer: true })) as RedisEventLog;
  const rebuildPrefix = `${prefix}:rebuild`;
  const rk = keysOf(rebuildPrefix);
  const mk = keysOf(prefix);
  const admin = await connect(url, opts.connectTimeoutMs ?? 3000, `prefix ${rebuildPrefix}`);
  let log: RedisEventLog;
  try {
    await admin.del(rk.events, rk.head, rk.marker, rk.accepted);
    log = (await openRedisLog(url, { ...opts, prefix: rebuildPrefix, writer: true })) as RedisEventLog;
  } catch (err) {
    admin.disconnect();
    await main.close();
    throw err;
  }
  let finished = false;
  const once = (): void => {
    if (finished) throw new RautaError('RAUTA_ERR_LOG_BACKEND', `rebuild of ${main.location} already committed or aborted`);
    finished = true;
  };
  return {
    log,
    async commit() {
      once();
      try {
        const res = await admin.eval(
          SWAP,
          10,
          mk.lock,
          mk.events,
          mk.head,
          mk.marker,
          mk.accepted,
          rk.events,
          rk.head,
          rk.marker,
          rk.accepted,
          rk.lock,
          main.heldLock() ?? '',
          log.heldLock() ?? '',
        );
        if (res !== 'OK')
          throw new RautaError('RAUTA_ERR_LOG_LOCKED', `rebuild of ${main.location}: the writer lock was lost before the swap; nothing was changed`);
      } finally {
        await log.close();
        await main.close();
        admin.disconnect();
      }
    },
    async abort() {
      once();
      try {
        await log.close();
        await admin.del(rk.events, rk.head, rk.marker, rk.accepted);
      } finally {
        await main.close();
        admin.disconnect();
      }
    },
  };
}

/**
 * Prefixes under which `url` holds an event log (a `<prefix>:head` key), sorted; at most
 * `limit`, from a bounded SCAN: for "no log under that prefix; logs there: ..." messages.
 */
export async function logPrefixes(url: string, limit = 20): Promise<string[]> {
  const redis = await connect(url, 3000, 'listing prefixes');
  try {
    const found = new Set<string>();
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', '*:head', 'COUNT', 1000);
      cursor = next;
      for (const k of keys) if ((await redis.type(k)) === 'string') found.add(k.slice(0, -':head'.length));
    } while (cursor !== '0' && found.size < limit && ++rounds < 100);
    return [...found].sort().slice(0, limit);
  } finally {
    redis.disconnect();
  }
}
