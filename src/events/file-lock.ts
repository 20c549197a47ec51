// Single-writer lock for the file log: a lock file created with O_EXCL holding pid, process
// start time and a random token. A lock whose process is gone (or whose pid was reused by a
// process started later) is stale and is taken over with a warning. The writer re-checks its
// token before every append (fencing): a writer whose lock was taken over cannot append.
// That check runs on every append, so it is one synchronous stat of the lock path: a
// takeover unlinks and creates (another inode: ours is held open, so its number cannot be
// reused), a rename over it gives another inode too, and a rewrite in place changes size,
// mtime or ctime. Only when the stat changed is the text read and compared, so a touched
// but intact lock file still passes. (A rewrite in place to the same size within one
// timestamp tick of the previous change would pass unseen; takeovers never rewrite in place.)
import { randomUUID } from 'node:crypto';
import { closeSync, fstatSync, openSync, promises as fs, readFileSync, readSync, type Stats, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { RautaError } from '../errors.js';
import type { LogWarnings } from './event-log.js';

interface LockContent {
  pid: number;
  /** /proc/<pid>/stat starttime, so a reused pid is not mistaken for the holder */
  start: string;
  host: string;
  token: string;
  since: string;
}

function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22; the command name (field 2) may contain spaces, so split after its ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function holderAlive(c: LockContent): boolean {
  if (c.host !== hostname()) return true; // cannot tell for another host: assume alive
  try {
    process.kill(c.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = processStart(c.pid);
  return start === null || c.start === '' || start === c.start;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseLock(text: string): LockContent | null {
  try {
    const v = JSON.parse(text) as Partial<LockContent>;
    if (typeof v.pid === 'number' && typeof v.token === 'string') {
      return { pid: v.pid, token: v.token, start: v.start ?? '', host: v.host ?? hostname(), since: v.since ?? '?' };
    }
  } catch {
    /* fall through */
  }
  return null;
}

export class FileLock {
  /** The lock file, held open: its inode cannot be reused while we hold it, so a new lock file always has another. */
  private fd: number | null = null;
  /** The stat of the lock path when our text was last read back from it. */
  private seen: Stats | null = null;
  private readonly want: Buffer;
  private readonly got: Buffer;

  private constructor(
    readonly lockPath: string,
    readonly token: string,
    readonly text: string,
  ) {
    this.want = Buffer.from(text);
    this.got = Buffer.alloc(this.want.length + 1);
  }

  /** Opens our lock file for verify(); false when it is not ours any more. */
  private hold(): boolean {
    try {
      this.fd = openSync(this.lockPath, 'r');
      const st = statSync(this.lockPath);
      if (st.ino !== fstatSync(this.fd).ino) return false; // replaced between our create and open
      this.seen = st;
      return this.holdsOurText();
    } catch {
      return false;
    }
  }

  /** Takes the lock or throws RAUTA_ERR_LOG_LOCKED naming the holder. */
  static async acquire(logPath: string, warnings: LogWarnings): Promise<FileLock> {
    const lockPath = `${logPath}.lock`;
    const token = randomUUID();
    const content: LockContent = { pid: process.pid, start: processStart(process.pid) ?? '', host: hostname(), token, since: new Date().toISOString() };
    const text = `${JSON.stringify(content)}\n`;
    const guard = `${lockPath}.takeover`;
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        const h = await fs.open(lockPath, 'wx', 0o644);
        try {
          await h.writeFile(text);
          await h.sync();
        } finally {
          await h.close();
        }
        const lock = new FileLock(lockPath, token, text);
        if (lock.hold()) return lock;
        lock.closeFd();
        continue; // taken over between our create and our open: not ours after all
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new RautaError('RAUTA_ERR_LOG_BACKEND', `cannot create lock file ${lockPath}: ${(err as Error).message}`, { cause: err });
        }
      }
      let existing: string;
      try {
        existing = await fs.readFile(lockPath, 'utf8');
      } catch {
        continue; // released meanwhile: try again
      }
      const holder = parseLock(existing);
      if (holder === null && existing.length === 0) {
        // a holder between create and write, or one killed there; give it a moment
        await new Promise((r) => setTimeout(r, 50));
        const again = await fs.readFile(lockPath, 'utf8').catch(() => null);
        if (again === null || again.length > 0) continue;
      } else if (holder !== null && holderAlive(holder)) {
        throw new RautaError(
          'RAUTA_ERR_LOG_LOCKED',
          `event log ${logPath} already has a writer: pid ${holder.pid} on ${holder.host} since ${holder.since} holds ${lockPath}. ` +
            'Only one watcher may write a log: stop the other one, or if that process is not a rauta watcher, delete the lock file.',
        );
      }
      // Stale. Removing it is a compare-and-delete the file system cannot do atomically, so
      // starters take turns: only the holder of `.takeover` (created O_EXCL) may remove a
      // stale lock, and only if it still holds what was read. Then every starter races for
      // the O_EXCL create above again, which exactly one wins.
      if (!(await FileLock.takeTurn(guard, text))) {
        await sleep(10 + Math.random() * 20);
        continue;
      }
      try {
        const now = await fs.readFile(lockPath, 'utf8').catch(() => null);
        if (now === existing) {
          await fs.unlink(lockPath).catch(() => undefined);
          warnings.warn(
            { lockPath, stalePid: holder?.pid ?? null, staleSince: holder?.since ?? null },
            `event log ${logPath}: taking over a stale writer lock (its process is gone)`,
          );
        }
      } finally {
        await fs.unlink(guard).catch(() => undefined);
      }
    }
    throw new RautaError('RAUTA_ERR_LOG_LOCKED', `event log ${logPath}: could not take ${lockPath} (it kept changing); is another watcher starting?`);
  }

  /**
   * The turn to remove a stale lock: true when this starter created `guard`. A guard
   * left by a starter that died holding it (dead pid, or empty for over a second) is
   * removed so the next attempt can take it.
   */
  private static async takeTurn(guard: string, text: string): Promise<boolean> {
    try {
      const h = await fs.open(guard, 'wx', 0o644);
      try {
        await h.writeFile(text);
      } finally {
        await h.close();
      }
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new RautaError('RAUTA_ERR_LOG_BACKEND', `cannot create ${guard}: ${(err as Error).message}`, { cause: err });
      }
    }
    const other = await fs.readFile(guard, 'utf8').catch(() => null);
    if (other === null) return false;
    const holder = parseLock(other);
    const abandoned = holder !== null ? !holderAlive(holder) : Date.now() - ((await fs.stat(guard).catch(() => null))?.mtimeMs ?? Date.now()) > 1000;
    if (abandoned) await fs.unlink(guard).catch(() => undefined);
    return false;
  }

  /** null while the path still names our file and it still holds our text; else why not. */
  private verifySync(): 'gone' | 'replaced' | 'changed' | null {
    if (this.fd === null || this.seen === null) return 'gone';
    let st: Stats | undefined;
    try {
      st = statSync(this.lockPath, { throwIfNoEntry: false });
    } catch {
      return 'gone';
    }
    if (st === undefined) return 'gone';
    // A takeover unlinks and creates: another inode, since ours is still open.
    if (st.ino !== this.seen.ino) return 'replaced';
    const s = this.seen;
    if (st.size === s.size && st.mtimeMs === s.mtimeMs && st.ctimeMs === s.ctimeMs) return null;
    if (!this.holdsOurText()) return 'changed';
    this.seen = st;
    return null;
  }

  /** Compares the whole text of the file we hold open, one byte more to see growth. */
  private holdsOurText(): boolean {
    const n = readSync(this.fd!, this.got, 0, this.got.length, 0);
    return n === this.want.length && this.got.subarray(0, n).equals(this.want);
  }

  /** Throws RAUTA_ERR_LOG_LOCKED unless the lock file is still ours and still holds our token. */
  verify(): void {
    if (this.verifySync() === null) return;
    let now: string | null = null;
    try {
      now = readFileSync(this.lockPath, 'utf8');
    } catch {
      /* gone */
    }
    const holder = now === null ? null : parseLock(now);
    throw new RautaError(
      'RAUTA_ERR_LOG_LOCKED',
      `this writer lost the lock ${this.lockPath} (${holder ? `now held by pid ${holder.pid} on ${holder.host}` : 'lock file gone'}); refusing to append. Restart the watcher.`,
    );
  }

  private closeFd(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  async release(): Promise<void> {
    const ours = this.verifySync() === null;
    this.closeFd();
    if (ours) await fs.unlink(this.lockPath).catch(() => undefined);
  }
}
