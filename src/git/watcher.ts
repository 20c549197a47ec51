// The long-running watcher: one branch of one repository, optionally under a
// subfolder. Local repository: chokidar on the branch ref and its reflog
// reacts at once; a cheap check of the ref file (250 ms) and a full poll are
// the fallbacks. Remote URL: poll (15 s default) plus the webhook, each
// fetching into a bare cache first. Runs never overlap: a trigger during a
// run schedules exactly one more run.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { RautaError } from '../errors.js';
import type { Capacity } from '../routes/capacity.js';
import { redactUrl, type GitCredentials } from './git-credentials.js';
import { GitStore } from './git-store.js';
import { CommitProcessor, type ProcessResult } from './process-commits.js';
import { openRemoteCache, type RemoteCache } from './remote-cache.js';
import { createWebhookHandler, type RequestHandler } from './webhook.js';

/** The log the watcher appends to; its location (an EventLog's) places the parse cache next to a file log. */
type WatcherLog = Parameters<CommitProcessor['processNewCommits']>[0] & { readonly location?: string };

export interface WatcherOptions {
  /** a local repository path, or an http(s) URL served over smart HTTP */
  repo: string;
  branch?: string;
  /** subfolder holding the route files ('' = whole repo) */
  root?: string;
  log: WatcherLog;
  /** first commit to record when the log is empty (see ProcessorOptions.since) */
  since?: string | null;
  /** poll interval in ms; default 15 000 for a remote, 5 000 for a local repository */
  pollMs?: number;
  /**
   * Local repository only: how often to read the branch's ref file (microseconds of work)
   * and run when it changed since the last run, in case a file event was lost; default 250,
   * 0 turns it off (tests that must see the file watch alone do).
   */
  refCheckMs?: number;
  /** where a remote is mirrored; default .rauta/git-cache/<hash of the URL> */
  cacheDir?: string;
  /** HMAC secret for the webhook */
  secret?: string | null;
  /** the agents' map capacity (default: the sizes in bpf/rauta.h) */
  capacity?: Capacity;
  /** remote only: credentials for the fetch (default: the userinfo of `repo`, which is never stored) */
  credentials?: GitCredentials | null;
  /**
   * The parse cache file, so a restart parses only what changed (parse-cache-file.ts).
   * Default: next to a file log (`<log>.parse-cache`), else beside the Git cache folder
   * (`<cacheDir>.parse-cache`); null: none.
   */
  parseCache?: string | null;
  /** the parse cache could not be written (default: a line on stderr) */
  onWarning?: (message: string, detail: object) => void;
  onResult?: (result: ProcessResult) => void;
  onError?: (err: unknown) => void;
}

export interface WatcherStats {
  runs: number;
  fetches: number;
  /** what started the last 100 runs, oldest first ('start' | 'poll' | 'fs' | 'ref-check' | 'webhook' | 'manual') */
  triggers: string[];
  /** the last run's error; null once a run succeeds again */
  lastError: unknown;
  lastResult: ProcessResult | null;
}

export interface Watcher {
  /** mount on an http server: handles POST /hooks/git, returns false for other requests */
  webhook: RequestHandler;
  /** run now (or right after the current run); resolves with that run's result */
  trigger(reason?: string): Promise<ProcessResult>;
  stats: WatcherStats;
  close(): Promise<void>;
}

export function isRemote(repo: string): boolean {
  return /^https?:\/\//.test(repo);
}

/** The cache folder name of a remote: a hash of its URL without credentials (a new token keeps the cache). */
export function gitCacheName(repo: string): string {
  return crypto.createHash('sha256').update(redactUrl(repo)).digest('hex').slice(0, 16);
}

const FS_DEBOUNCE_MS = 5;

/** Where the branch points, cheaply: the loose ref's content, else the identity of packed-refs. */
async function refFingerprint(gitdir: string, ref: string): Promise<string> {
  // Git renames a complete ref file into place, so a read sees the old or the new content.
  const loose = await fs.promises.readFile(path.join(gitdir, ref), 'utf8').catch(() => null);
  if (loose !== null) return loose.trim();
  const packed = await fs.promises.stat(path.join(gitdir, 'packed-refs')).catch(() => null);
  return packed ? `packed-refs ${packed.ino} ${packed.size} ${packed.mtimeMs}` : 'absent';
}

export async function startWatcher(options: WatcherOptions): Promise<Watcher> {
  const branch = options.branch ?? 'main';
  const remote = isRemote(options.repo);
  let cache: RemoteCache | null = null;
  let store: GitStore;
  let ref: string;
  const cacheDir = options.cacheDir ?? path.join('.rauta', 'git-cache', gitCacheName(options.repo));
  if (remote) {
    cache = await openRemoteCache({ url: options.repo, branch, cacheDir, credentials: options.credentials ?? null });
    store = new GitStore(cache.gitdir);
    ref = cache.trackingRef;
  } else {
    store = GitStore.open(options.repo);
    ref = `refs/heads/${branch}`;
  }
  const location = options.log.location;
  const cacheFile =
    options.parseCache !== undefined
      ? options.parseCache
      : typeof location === 'string' && location.startsWith('file:')
        ? `${location.slice('file:'.length)}.parse-cache`
        : `${cacheDir}.parse-cache`;
  const processor = new CommitProcessor(store, {
    ref,
    root: options.root ?? '',
    since: options.since ?? null,
    cacheFile,
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    ...(options.capacity ? { capacity: options.capacity } : {}),
  });
  const stats: WatcherStats = { runs: 0, fetches: 0, triggers: [], lastError: null, lastResult: null };
  let closed = false;
  let running: Promise<ProcessResult> | null = null;
  let queued: Promise<ProcessResult> | null = null;
  /** the ref's fingerprint when the last run started (local repository) */
  let runFingerprint: string | null = null;

  const runOnce = async (): Promise<ProcessResult> => {
    stats.runs++;
    // Read before resolving: a change after this point is seen by the next check.
    if (!remote) runFingerprint = await refFingerprint(store.gitdir, ref);
    if (cache) {
      stats.fetches++;
      await cache.fetch();
    }
    const result = await processor.processNewCommits(options.log);
    stats.lastError = null;
    stats.lastResult = result;
    options.onResult?.(result);
    return result;
  };

  const trigger = (reason = 'manual'): Promise<ProcessResult> => {
    if (closed) return Promise.reject(new RautaError('RAUTA_ERR_GIT', 'the watcher is closed'));
    if (!running) {
      stats.triggers.push(reason);
      if (stats.triggers.length > 100) stats.triggers.shift();
      running = runOnce().finally(() => {
        running = null;
      });
      return running;
    }
    // Coalesce: every trigger during a run is served by the one run after it.
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = null;
        return trigger(reason);
      });
    return queued;
  };

  const background = (reason: string): void => {
    if (closed) return;
    trigger(reason).catch((err: unknown) => {
      stats.lastError = err;
      options.onError?.(err);
    });
  };

  const cleanups: Array<() => void> = [];
  let fsWatcher: FSWatcher | null = null;
  if (!remote) {
    // Git replaces refs with lock+rename, so watch the folders, not the files.
    const gitdir = store.gitdir;
    fsWatcher = watch([path.join(gitdir, 'refs', 'heads'), path.join(gitdir, 'logs', 'refs', 'heads'), path.join(gitdir, 'packed-refs')], {
      ignoreInitial: true,
      ignored: (p: string) => p.endsWith('.lock'),
    });
    // Only this branch's ref, its reflog and packed-refs wake a run (not other branches).
    const branchFiles = new Set([ref, path.join('logs', ref), 'packed-refs'].map((p) => path.resolve(gitdir, p)));
    // One commit is a reflog append and a rename microseconds apart, usually read from
    // inotify in one batch: a short debounce makes them one run. A late event only costs
    // a run that finds nothing, never a missed commit.
    let debounce: NodeJS.Timeout | null = null;
    const onBranchEvent = (): void => {
      if (closed) return; // events still arrive while chokidar closes
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(() => {
        debounce = null;
        background('fs');
      }, FS_DEBOUNCE_MS);
    };
    fsWatcher.on('all', (_event, file) => {
      if (branchFiles.has(path.resolve(file))) onBranchEvent();
    });
    // chokidar drops a 'change' of a path within 50 ms of its previous one (a leading-edge
    // throttle, no trailing event), so a commit made right after the last was seen, as
    // scripts and CI do, was left to the poll. Its 'raw' events (every fs.watch event, not
    // throttled) carry the rename of the new ref into place: the reliable signal.
    fsWatcher.on('raw', (_event, filename: string | null, details) => {
      const watchedPath = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
      if (typeof watchedPath !== 'string') return;
      const at = path.resolve(watchedPath);
      if (branchFiles.has(at) || (filename && branchFiles.has(path.join(at, filename)))) onBranchEvent();
    });
    fsWatcher.on('error', (err: unknown) => options.onError?.(err));
    cleanups.push(() => {
      if (debounce) clearTimeout(debounce);
    });
    await new Promise<void>((resolve) => fsWatcher!.once('ready', () => resolve()));

    // In case an event is lost anyway (inotify queue overflow, a file system without
    // events): compare the ref file with what the last run started from, a few times a
    // second. Unlike the poll, this runs only when the branch moved.
    const refCheckMs = options.refCheckMs ?? 250;
    if (refCheckMs > 0) {
      let checking = false;
      const refCheck = setInterval(() => {
        // A pending or running fs-triggered run reads the ref anyway.
        if (closed || running || debounce || checking) return;
        checking = true;
        refFingerprint(gitdir, ref)
          .then((now) => {
            if (!running && !debounce && runFingerprint !== null && now !== runFingerprint) background('ref-check');
          })
          .finally(() => {
            checking = false;
          });
      }, refCheckMs);
      cleanups.push(() => clearInterval(refCheck));
    }
  }
  const poll = setInterval(() => background('poll'), options.pollMs ?? (remote ? 15_000 : 5_000));
  const webhook = createWebhookHandler({ secret: options.secret ?? null, branch, onPush: () => background('webhook') });

  try {
    await trigger('start');
  } catch (err) {
    stats.lastError = err;
    options.onError?.(err);
  }

  return {
    webhook,
    trigger,
    stats,
    async close() {
      closed = true;
      clearInterval(poll);
      for (const cleanup of cleanups) cleanup();
      await fsWatcher?.close();
      await (queued ?? running)?.catch(() => undefined);
      await processor.close(); // writes the parse cache if it is behind
    },
  };
}
