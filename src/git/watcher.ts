// The long-running watcher: one branch of one repository, optionally under a
// subfolder. Local repository: chokidar on the branch ref and its reflog
// reacts at once, a poll is the fallback. Remote URL: poll (15 s default)
// plus the webhook, each fetching into a bare cache first. Runs never
// overlap: a trigger during a run schedules exactly one more run.
import crypto from 'node:crypto';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { RautaError } from '../errors.js';
import { GitStore } from './git-store.js';
import { CommitProcessor, type ProcessResult } from './process-commits.js';
import { openRemoteCache, type RemoteCache } from './remote-cache.js';
import { createWebhookHandler, type RequestHandler } from './webhook.js';

type WatcherLog = Parameters<CommitProcessor['processNewCommits']>[0];

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
  /** where a remote is mirrored; default .rauta/git-cache/<hash of the URL> */
  cacheDir?: string;
  /** HMAC secret for the webhook */
  secret?: string | null;
  onResult?: (result: ProcessResult) => void;
  onError?: (err: unknown) => void;
}

export interface WatcherStats {
  runs: number;
  fetches: number;
  /** what started the last 100 runs, oldest first ('start' | 'poll' | 'fs' | 'fs-recheck' | 'webhook' | 'manual') */
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

export async function startWatcher(options: WatcherOptions): Promise<Watcher> {
  const branch = options.branch ?? 'main';
  const remote = isRemote(options.repo);
  let cache: RemoteCache | null = null;
  let store: GitStore;
  let ref: string;
  if (remote) {
    const cacheDir = options.cacheDir ?? path.join('.rauta', 'git-cache', crypto.createHash('sha256').update(options.repo).digest('hex').slice(0, 16));
    cache = await openRemoteCache({ url: options.repo, branch, cacheDir });
    store = new GitStore(cache.gitdir);
    ref = cache.trackingRef;
  } else {
    store = GitStore.open(options.repo);
    ref = `refs/heads/${branch}`;
  }
  const processor = new CommitProcessor(store, { ref, root: options.root ?? '', since: options.since ?? null });
  const stats: WatcherStats = { runs: 0, fetches: 0, triggers: [], lastError: null, lastResult: null };
  let closed = false;
  let running: Promise<ProcessResult> | null = null;
  let queued: Promise<ProcessResult> | null = null;

  const runOnce = async (): Promise<ProcessResult> => {
    stats.runs++;
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
    let debounce: NodeJS.Timeout | null = null;
    let recheck: NodeJS.Timeout | null = null;
    const onFsEvent = (): void => {
      if (closed) return;
      trigger('fs')
        .then((result) => {
          // Git appends the reflog before it renames the new ref into place; a run
          // woken by the reflog can still see the old head, and a replaced file is
          // the case file watchers are least reliable at. Look again shortly.
          if (result.commits === 0 && !closed && !recheck) {
            recheck = setTimeout(() => {
              recheck = null;
              background('fs-recheck');
            }, 250);
          }
        })
        .catch((err: unknown) => {
          stats.lastError = err;
          options.onError?.(err);
        });
    };
    fsWatcher.on('all', () => {
      if (closed) return; // events still arrive while chokidar closes
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(onFsEvent, 25);
    });
    cleanups.push(() => {
      if (debounce) clearTimeout(debounce);
      if (recheck) clearTimeout(recheck);
    });
    fsWatcher.on('error', (err: unknown) => options.onError?.(err));
    await new Promise<void>((resolve) => fsWatcher!.once('ready', () => resolve()));
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
    },
  };
}
