// The routes repository as `rauta run` and `rauta watch` take it from their flags,
// and the watcher both start on it: one place for the checks made before anything
// starts, for keeping credentials out of what is shown, and for what a run reports.
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { GitStore } from '../git/git-store.js';
import { redactUrls, resolveGitCredentials, splitRepoUrl, type GitCredentials } from '../git/git-credentials.js';
import { gitCacheName, isRemote, startWatcher, type Watcher, type WatcherOptions } from '../git/watcher.js';
import type { WatcherHealth } from '../observability/health.js';
import { parseListen } from '../observability/http-server.js';
import type { ProcessResult } from '../git/process-commits.js';
import type { Capacity } from '../routes/capacity.js';
import { readSecret } from './secrets.js';

export interface RepoFlags {
  repo: string;
  branch: string;
  root: string;
  stateDir: string;
  gitPasswordFile?: string;
  webhookSecret?: string;
  webhookSecretFile?: string;
}

export interface RepoSource {
  remote: boolean;
  /** the repository as shown and stored: a URL never carries credentials */
  url: string;
  /** remote only: for the fetch */
  credentials: GitCredentials | null;
  /** the --repo URL carried credentials (used, never shown: warnRepoSource says so) */
  urlHadCredentials: boolean;
  webhookSecret: string | null;
}

/** Reads the repository flags; a bad local path or secret file fails here, before anything is loaded. */
export function repoSource(opts: RepoFlags): RepoSource {
  const remote = isRemote(opts.repo);
  if (!remote) GitStore.open(resolve(opts.repo));
  const { url, credentials: fromUrl } = splitRepoUrl(opts.repo);
  return {
    remote,
    url,
    credentials: remote ? resolveGitCredentials({ fromUrl, passwordFile: opts.gitPasswordFile }) : null,
    urlHadCredentials: fromUrl !== null,
    webhookSecret: readSecret({ value: opts.webhookSecret, file: opts.webhookSecretFile, fileFlag: '--webhook-secret-file', env: 'RAUTA_WEBHOOK_SECRET' }),
  };
}

/** The warning for credentials in the --repo URL (they show in ps). */
export function warnRepoSource(src: RepoSource, logger: Logger): void {
  if (!src.urlHadCredentials) return;
  logger.warn(
    { repo: src.url },
    'the --repo URL carries credentials: they are used for the fetch but never stored or shown; prefer RAUTA_GIT_PASSWORD or --git-password-file (a URL shows in ps)',
  );
}

/** The warning for a webhook served on a non-loopback address without a secret. */
export function warnUnsignedWebhook(src: RepoSource, http: string, logger: Logger): void {
  const { host } = parseListen(http);
  if (!src.webhookSecret && !(host.startsWith('127.') || host === '::1' || host === 'localhost')) {
    logger.warn({ http }, 'POST /hooks/git accepts unsigned requests on a non-loopback address: set RAUTA_WEBHOOK_SECRET');
  }
}

export interface RepoWatchOptions {
  log: WatcherOptions['log'];
  capacity: Capacity;
  pollMs: number | undefined;
  logger: Logger;
  /** the last run's outcome, as /healthz and /status show it */
  health: WatcherHealth;
  /** after each successful run (logged already when it appended commits) */
  onRun?: (result: ProcessResult) => void;
}

/** Starts the watcher on `src` (a remote is mirrored under <stateDir>/git-cache); its runs keep `health` current. */
export async function startRepoWatcher(src: RepoSource, flags: RepoFlags, opts: RepoWatchOptions): Promise<Watcher> {
  const { logger, health } = opts;
  let watcher: Watcher | null = null;
  watcher = await startWatcher({
    repo: src.remote ? src.url : resolve(flags.repo),
    credentials: src.credentials,
    capacity: opts.capacity,
    branch: flags.branch,
    root: flags.root,
    log: opts.log,
    cacheDir: join(resolve(flags.stateDir), 'git-cache', gitCacheName(src.url)),
    secret: src.webhookSecret,
    ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    onWarning: (message, detail) => logger.warn(detail, message),
    onResult: (result) => {
      health.lastError = null;
      health.lastRunAt = new Date().toISOString();
      if (result.commits > 0) logger.info({ ...result, trigger: watcher?.stats.triggers.at(-1) ?? 'start' }, 'watcher: new commits in the event log');
      opts.onRun?.(result);
    },
    onError: (err) => {
      health.lastError = redactUrls(err instanceof Error ? err.message : String(err));
      logger.warn({ err: health.lastError }, 'watcher run failed; retrying on the next trigger');
    },
  });
  logger.info({ repo: src.url, branch: flags.branch, root: flags.root || '.', remote: src.remote }, 'watching');
  return watcher;
}
