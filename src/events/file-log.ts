// File backend of the event log (embedded default). Append-only records with length and CRC
// (record-frame.ts), one write() per batch on a descriptor opened with O_DSYNC: the write
// returns once the batch is as durable as write() + fdatasync() would make it, in one
// syscall. On open a torn tail (a batch a crash cut short) is truncated with a warning;
// damage followed by valid records is an error.
// One writer (lock file, file-lock.ts); any number of readers in other processes, which see
// appends through fs.watch with a poll fallback.
import { EventEmitter } from 'node:events';
import { fdatasyncSync, constants as fsConstants, promises as fs, type FSWatcher, watch, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { RautaError } from '../errors.js';
import type { RautaEvent, RautaEventBody } from '../routes/route-events.js';
import { stderrWarnings, type AppendOptions, type EventLog, type EventLogRebuild, type LogWarnings } from './event-log.js';
import { decodeFileRecord, eventSchemaTag, rebuildHint, recordKind, validateBatch } from './event-record.js';
import { FileLock } from './file-lock.js';
import { waitUntilHead } from './wait-for.js';
import {
  checkFileHeader,
  decodeRecords,
  encodeBatch,
  fileHeader,
  FILE_HEADER_SIZE,
  FrameScanError,
  KIND_ACCEPTED,
  KIND_OTHER,
  RECORD_HEADER_SIZE,
  scanFrames,
  type ScanProblem,
} from './record-frame.js';

export interface FileLogOptions {
  /** Take the writer lock and allow append (the watcher). Default false (a reader). */
  writer?: boolean;
  logger?: LogWarnings;
  /** Reader only: a missing file is an empty log that may appear later (default: error). */
  allowMissing?: boolean;
  /** Reader only: how often waitForHead re-checks the file when fs.watch stays silent (ms). */
  pollMs?: number;
  /** Internal (rebuild): the caller already holds the lock of the log this file replaces. */
  lockHeldByCaller?: boolean;
  /** Bytes read per step when scanning at open (default 8 MiB; tests use tiny chunks). */
  loadChunkBytes?: number;
}

/** Bytes read per step when scanning the log at open. */
const LOAD_CHUNK = 8 * 1024 * 1024;

/**
 * The writer's open flags. O_DSYNC makes each write() durable before it returns (data and
 * the size that finds it, as fdatasync does). Where the platform has no O_DSYNC the
 * writer falls back to write() + fdatasync().
 */
const O_DSYNC: number | undefined = (fsConstants as { O_DSYNC?: number }).O_DSYNC;
const WRITER_FLAGS = fsConstants.O_RDWR | (O_DSYNC ?? 0);

/**
 * The durable write of a batch, synchronous: appends are serial anyway, and a trip through
 * the thread pool (submit, worker wake-up, completion back on the loop) cost ~40 µs per
 * append here, a fifth of the O_DSYNC write itself. The loop waits for the disk for as long
 * as an fdatasync takes, once per commit; only the writer (the watcher) ever does this.
 */
function writeDurably(fd: number, bytes: Buffer, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  if (O_DSYNC === undefined) fdatasyncSync(fd);
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

function exists(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code !== 'ENOENT';
}

function scanError(path: string, p: ScanProblem, cause: unknown): RautaError {
  const what =
    p.kind === 'seq-mismatch'
      ? `the record at offset ${p.offset} has seq ${p.foundSeq} where seq ${p.expectedSeq} was expected (a gap or duplicate)`
      : `the record at offset ${p.offset} (seq ${p.expectedSeq}) is damaged (${p.reason})` +
        (p.nextValidOffset >= 0 ? ` and valid records follow at offset ${p.nextValidOffset}, so this is not a torn tail` : '');
  return new RautaError('RAUTA_ERR_LOG_CORRUPT', `event log ${path} is corrupt: ${what}. Nothing was skipped. Restore the file, or ${rebuildHint(path)}.`, {
    cause,
  });
}

class FileEventLog implements EventLog {
  readonly location: string;
  private fd: fs.FileHandle | null = null;
  private ino = -1;
  /** offsets[seq - 1] = file offset of that record */
  private offsets: number[] = [];
  /** just past the last complete batch: where the next append goes */
  private end = FILE_HEADER_SIZE;
  private lastMarkerSeq = 0;
  private lastAcceptedSeq = 0;
  private cache = new Map<number, RautaEvent>();
  private readonly changed = new EventEmitter();
  private queue: Promise<unknown> = Promise.resolve();
  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private waiters = 0;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly writer: boolean,
    private readonly lock: FileLock | null,
    private readonly warnings: LogWarnings,
    private readonly pollMs: number,
    private readonly loadChunk: number,
  ) {
    this.location = `file:${path}`;
    this.changed.setMaxListeners(0);
  }

  /** Serializes appends, refreshes and close. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async openFile(allowMissing: boolean): Promise<void> {
    if (this.writer) await this.ensureFile();
    let st;
    try {
      this.fd = await fs.open(this.path, this.writer ? WRITER_FLAGS : fsConstants.O_RDONLY);
      st = await this.fd.stat();
    } catch (err) {
      if (!exists(err) && allowMissing) return;
      if (!exists(err)) {
        throw new RautaError('RAUTA_ERR_LOG_BACKEND', `event log ${this.path} does not exist: start the watcher first, or check the log path`, { cause: err });
      }
      throw new RautaError('RAUTA_ERR_LOG_BACKEND', `cannot open event log ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    this.ino = st.ino;
    await this.load(st.size);
  }

  /** Creates the file with its header (write aside, fsync, rename) so it is never half-made. */
  private async ensureFile(): Promise<void> {
    let size = -1;
    try {
      size = (await fs.stat(this.path)).size;
    } catch (err) {
      if (exists(err)) throw new RautaError('RAUTA_ERR_LOG_BACKEND', `cannot stat event log ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    if (size >= FILE_HEADER_SIZE) return;
    if (size >= 0) {
      const head = await fs.readFile(this.path);
      if (checkFileHeader(head) !== 'short-prefix') return; // load() reports it
    }
    const tmp = `${this.path}.create-${process.pid}`;
    try {
      const h = await fs.open(tmp, 'w', 0o644);
      try {
        await h.writeFile(fileHeader());
        await h.sync();
      } finally {
        await h.close();
      }
      await fs.rename(tmp, this.path);
      await fsyncDir(dirname(this.path));
    } catch (err) {
      await fs.unlink(tmp).catch(() => undefined);
      throw new RautaError(
        'RAUTA_ERR_LOG_BACKEND',
        `cannot create event log ${this.path}: ${(err as Error).message}; check the directory exists and is writable`,
        { cause: err },
      );
    }
  }

  private resetIndex(): void {
    this.offsets = [];
    this.end = FILE_HEADER_SIZE;
    this.lastMarkerSeq = 0;
    this.lastAcceptedSeq = 0;
    this.cache.clear();
  }

  /** Reads from `this.end` to `size`, indexes complete batches, and (writer) truncates a torn tail. */
  private async load(size: number): Promise<void> {
    const fd = this.fd!;
    if (this.end === FILE_HEADER_SIZE && this.offsets.length === 0) {
      const hdr = Buffer.alloc(Math.min(size, FILE_HEADER_SIZE));
      await fd.read(hdr, 0, hdr.length, 0);
      const check = checkFileHeader(hdr);
      if (check === 'short-prefix') return; // reader racing a creation: empty for now
      if (check !== 'ok') {
        throw new RautaError(
          'RAUTA_ERR_LOG_CORRUPT',
          `${this.path} is not a rauta event log (${check}); check the path, or move the file away to start a new log`,
        );
      }
    }
    // Scan in chunks so a long log is not read into memory at once; a batch larger than a
    // chunk (or damage whose verdict needs the rest of the file) grows the chunk.
    let chunk = this.loadChunk;
    while (this.end < size) {
      const want = Math.min(size - this.end, chunk);
      const buf = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fd.read(buf, got, want - got, this.end + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      const atEof = this.end + got >= size || got < want;
      let scan;
      try {
        scan = scanFrames(buf.subarray(0, got), this.end, this.offsets.length + 1);
      } catch (err) {
        if (err instanceof FrameScanError) throw scanError(this.path, err.problem, err);
        throw err;
      }
      for (const f of scan.frames) {
        this.offsets.push(f.offset);
        if (f.kind !== KIND_OTHER) this.lastMarkerSeq = f.seq;
        if (f.kind === KIND_ACCEPTED) this.lastAcceptedSeq = f.seq;
      }
      const progressed = scan.end > this.end;
      this.end = scan.end;
      if (!scan.tail) continue;
      if (!atEof) {
        if (!progressed) chunk *= 2;
        continue;
      }
      if (this.writer) {
        // A crash cut the last batch short: drop it whole, as if it was never appended.
        await fd.truncate(scan.end);
        await fd.datasync();
        this.warnings.warn(
          { path: this.path, tornBytes: scan.tail.bytes, reason: scan.tail.reason, truncatedTo: scan.end, head: this.offsets.length },
          `event log ${this.path}: truncated a torn tail of ${scan.tail.bytes} bytes (${scan.tail.reason}) left by a crash; the log ends at seq ${this.offsets.length}`,
        );
      }
      break; // a reader leaves the tail alone: it may be a write in progress
    }
  }

  /** Reader: picks up appends, or a rebuilt file swapped in under the same path. */
  private refresh(): Promise<void> {
    if (this.writer) return Promise.resolve();
    const before = this.offsets.length;
    return this.serial(async () => {
      if (this.closed) return;
      let st;
      try {
        st = await fs.stat(this.path);
      } catch (err) {
        if (!exists(err)) return; // not created yet (allowMissing) or being swapped: keep what we have
        throw new RautaError('RAUTA_ERR_LOG_BACKEND', `cannot stat event log ${this.path}: ${(err as Error).message}`, { cause: err });
      }
      if (this.fd === null || st.ino !== this.ino) {
        const old = this.fd;
        this.fd = await fs.open(this.path, 'r');
        this.ino = (await this.fd.stat()).ino;
        await old?.close();
        this.resetIndex();
        await this.load((await this.fd.stat()).size);
        return;
      }
      if (st.size < this.end) {
        this.resetIndex();
      }
      await this.load(st.size);
    }).then(() => {
      if (this.offsets.length !== before) this.changed.emit('change');
    });
  }

  async head(): Promise<number> {
    await this.refresh();
    return this.offsets.length;
  }

  async append(batch: RautaEventBody[], opts: AppendOptions = {}): Promise<RautaEvent[]> {
    if (!this.writer) {
      throw new RautaError('RAUTA_ERR_LOG_LOCKED', `event log ${this.path} was opened read-only; only the watcher (writer: true) appends`);
    }
    const bodies = validateBatch(batch, `event log ${this.path}`);
    return this.serial(async () => {
      if (this.closed) throw new RautaError('RAUTA_ERR_LOG_BACKEND', `event log ${this.path} is closed`);
      const head = this.offsets.length;
      if (opts.expectedHead !== undefined && opts.expectedHead !== head) {
        throw new RautaError(
          'RAUTA_ERR_LOG_SEQUENCE',
          `event log ${this.path}: expected head ${opts.expectedHead} but the head is ${head}; the log moved, re-read lastCommitMarker() and resume from there`,
        );
      }
      if (bodies.length === 0) return [];
      this.lock?.verify();
      const events = bodies.map((body, i) => ({ seq: head + 1 + i, ...body }) as RautaEvent);
      // validateBatch checked every event against the schema: say so in each record (event-record.ts)
      const tag = eventSchemaTag();
      const records = events.map((e) => ({ seq: e.seq, kind: recordKind(e), tag, payload: JSON.stringify(e) }));
      const bytes = encodeBatch(records);
      const fd = this.fd!;
      try {
        writeDurably(fd.fd, bytes, this.end);
      } catch (err) {
        await fd.truncate(this.end).catch(() => undefined); // leave no partial batch behind
        throw new RautaError('RAUTA_ERR_LOG_BACKEND', `event log ${this.path}: append failed (${(err as Error).message}); nothing was appended`, {
          cause: err,
        });
      }
      let at = this.end;
      records.forEach((r, i) => {
        this.offsets.push(at);
        at += RECORD_HEADER_SIZE + bytes.readUInt32LE(at - this.end); // the payload length encodeBatch wrote
        if (r.kind !== KIND_OTHER) this.lastMarkerSeq = r.seq;
        if (r.kind === KIND_ACCEPTED) this.lastAcceptedSeq = r.seq;
        if (r.kind !== KIND_OTHER) this.cache.set(r.seq, events[i]!);
      });
      // the cache only ever holds the two markers
      for (const seq of this.cache.keys()) if (seq !== this.lastMarkerSeq && seq !== this.lastAcceptedSeq) this.cache.delete(seq);
      this.end = at;
      this.changed.emit('change');
      return events;
    });
  }

  async read(fromSeq: number, limit: number): Promise<RautaEvent[]> {
    await this.refresh();
    const head = this.offsets.length;
    const from = Math.max(1, Math.floor(fromSeq));
    if (limit <= 0 || from > head) return [];
    const to = Math.min(head, from + Math.floor(limit) - 1);
    const start = this.offsets[from - 1]!;
    const stop = to < head ? this.offsets[to]! : this.end;
    const buf = Buffer.allocUnsafe(stop - start);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await this.fd!.read(buf, got, buf.length - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    let records;
    try {
      records = decodeRecords(buf.subarray(0, got), start, from, to - from + 1);
    } catch (err) {
      if (err instanceof FrameScanError) throw scanError(this.path, err.problem, err);
      throw err;
    }
    const hint = rebuildHint(this.path);
    return records.map((r) =>
      decodeFileRecord(buf.toString('utf8', r.start, r.end), r.seq, r.kind, r.tag, () => `event log ${this.path} offset ${r.offset}`, hint),
    );
  }

  private async eventAt(seq: number): Promise<RautaEvent | null> {
    if (seq === 0) return null;
    const hit = this.cache.get(seq);
    if (hit) return hit;
    const [e] = await this.read(seq, 1);
    if (e) this.cache.set(seq, e);
    return e ?? null;
  }

  async lastCommitMarker(): Promise<RautaEvent | null> {
    await this.refresh();
    return this.eventAt(this.lastMarkerSeq);
  }

  async lastAccepted(): Promise<RautaEvent | null> {
    await this.refresh();
    return this.eventAt(this.lastAcceptedSeq);
  }

  waitForHead(afterSeq: number, signal?: AbortSignal, timeoutMs?: number): Promise<number> {
    return waitUntilHead(
      afterSeq,
      async () => {
        if (this.closed) throw new RautaError('RAUTA_ERR_LOG_BACKEND', `event log ${this.path} was closed while waiting for seq > ${afterSeq}`);
        return this.head();
      },
      (wake) => {
        this.changed.on('change', wake);
        this.startWatching();
        return () => {
          this.changed.off('change', wake);
          this.stopWatching();
        };
      },
      signal,
      timeoutMs,
    );
  }

  private startWatching(): void {
    this.waiters += 1;
    if (this.writer || this.waiters > 1) return;
    const kick = (): void => {
      this.refresh().catch(() => undefined); // a failing refresh surfaces through head()
    };
    try {
      // watch the directory: sees appends and a rebuilt file renamed over ours
      const name = basename(this.path);
      this.watcher = watch(dirname(this.path), { persistent: false }, (_ev, file) => {
        if (file === null || file === name) kick();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      this.watcher = null; // the poll below still works
    }
    this.poll = setInterval(kick, this.pollMs);
  }

  private stopWatching(): void {
    this.waiters -= 1;
    if (this.writer || this.waiters > 0) return;
    this.watcher?.close();
    this.watcher = null;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.serial(async () => {
      this.closed = true;
      this.changed.emit('change'); // waiters re-check and see the log closed
      this.watcher?.close();
      if (this.poll) clearInterval(this.poll);
      await this.fd?.close();
      this.fd = null;
      await this.lock?.release();
    });
  }
}

export async function openFileLog(path: string, opts: FileLogOptions = {}): Promise<EventLog> {
  const writer = opts.writer ?? false;
  const warnings = opts.logger ?? stderrWarnings;
  const lock = writer && !opts.lockHeldByCaller ? await FileLock.acquire(path, warnings) : null;
  const log = new FileEventLog(path, writer, lock, warnings, opts.pollMs ?? 200, opts.loadChunkBytes ?? LOAD_CHUNK);
  try {
    await log.openFile(!writer && (opts.allowMissing ?? false));
  } catch (err) {
    await log.close().catch(() => undefined);
    throw err;
  }
  return log;
}

/**
 * Starts rebuilding the log at `path` (for `rauta log rebuild`). Holds the log's writer lock
 * until commit/abort, so no watcher appends meanwhile; readers keep the old file until the
 * rename and then switch to the new one.
 */
export async function beginFileLogRebuild(path: string, opts: { logger?: LogWarnings } = {}): Promise<EventLogRebuild> {
  const warnings = opts.logger ?? stderrWarnings;
  const lock = await FileLock.acquire(path, warnings);
  const tmp = `${path}.rebuild`;
  let log: EventLog;
  try {
    await fs.rm(tmp, { force: true });
    log = await openFileLog(tmp, { writer: true, logger: warnings, lockHeldByCaller: true });
  } catch (err) {
    await lock.release();
    throw err;
  }
  let finished = false;
  const once = (): void => {
    if (finished) throw new RautaError('RAUTA_ERR_LOG_BACKEND', `rebuild of ${path} already committed or aborted`);
    finished = true;
  };
  return {
    log,
    async commit() {
      once();
      try {
        await log.close();
        lock.verify();
        await fs.rename(tmp, path);
        await fsyncDir(dirname(path));
      } finally {
        await lock.release();
      }
    },
    async abort() {
      once();
      try {
        await log.close();
        await fs.rm(tmp, { force: true });
      } finally {
        await lock.release();
      }
    },
  };
}
