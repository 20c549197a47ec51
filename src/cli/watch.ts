// `rauta watch`: the multi-node watcher. Follows one branch of the routes
// repository, appends every commit's events to the Redis Streams log, and wakes
// each registered node (live, or stale for less than --forget-after without a
// clean stop) with a BullMQ job "reconcile up to seq N" (job id = node + seq,
// so a repeated wake-up is one job). Jobs carry no data: a node reads the
// log from its own applied seq.
//
// Faults: a Redis outage fails the runs during it; when the connection is back
// the watcher runs at once and re-sends the wake-ups (duplicates are harmless).
// A lost writer lock is taken again once free (see src/cluster/writer-log.ts).
// SIGTERM/SIGINT finish the current run, release the lock and exit 0.
import { exitAfterStop, processLifecycle } from '../runtime/process-lifecycle.js';
import type { Command } from 'commander';
import { Gauge, Registry } from 'prom-client';
import { checkPrefix, DEFAULT_PREFIX } from '../cluster/cluster-keys.js';
import { NodeRegistry } from '../cluster/node-registry.js';
import { boundedClose, WakeUps } from '../cluster/reconcile-queue.js';
import { checkRedisUrl, connectClusterRedis } from '../cluster/redis-connection.js';
import { seconds } from '../runtime/seconds.js';
import { WriterLog } from '../cluster/writer-log.js';
import { redactRedisUrl } from '../events/redis-log.js';
import type { RautaError } from '../errors.js';
import type { Watcher } from '../git/watcher.js';
import { parseListen, startHttpServer } from '../observability/http-server.js';
import { createLogger } from '../observability/logger.js';
import { addCapacityOptions } from './capacity-options.js';
import { parseCapacity, type CapacityOptions } from '../routes/capacity.js';
import { redisUrlFrom } from './secrets.js';
import { repoSource, startRepoWatcher, warnRepoSource, warnUnsignedWebhook } from './repo-watch.js';

export interface WatchOptions extends CapacityOptions {
  redis?: string;
  prefix: string;
  repo: string;
  branch: string;
  root: string;
  stateDir: string;
  poll?: string;
  forgetAfter: string;
  http?: string;
  webhookSecret?: string;
  webhookSecretFile?: string;
  gitPasswordFile?: string;
  logLevel?: string;
}

export async function runWatch(opts: WatchOptions & { redis: string }, signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): Promise<number> {
  checkRedisUrl(opts.redis);
  checkPrefix(opts.prefix);
  const pollMs = opts.poll !== undefined ? seconds(opts.poll, '--poll', 0.1) : undefined;
  const forgetAfterMs = seconds(opts.forgetAfter, '--forget-after');
  if (opts.http) parseListen(opts.http);
  const capacity = parseCapacity(opts);
  const src = repoSource(opts);
  const logger = createLogger({ level: (opts.logLevel as 'info' | undefined) ?? undefined, name: 'rauta-watch' });
  warnRepoSource(src, logger);

  const { cleanups, closeAll, stopSignal, isStopping } = processLifecycle(logger, signals, 'stopping: finishing the current run');

  try {
    let watcher: Watcher | null = null;
    // a standby (another watcher holds the lock) still stops on SIGTERM
    const standby = new AbortController();
    void stopSignal.then(() => standby.abort());
    const log = await WriterLog.open({
      url: opts.redis,
      prefix: opts.prefix,
      logger,
      signal: standby.signal,
      onRelocked: () => void watcher?.trigger('relocked').catch(() => undefined),
    });
    cleanups.push(async () => void (await boundedClose(log.close(), 2000)));
    const redis = await connectClusterRedis(opts.redis, { purpose: `watcher, prefix ${opts.prefix}` });
    cleanups.push(async () => {
      await boundedClose(redis.quit(), 1000);
      redis.disconnect();
    });
    const registry = new NodeRegistry(redis, opts.prefix);
    // Redis trouble reaches the JSON log once per distinct message, never stderr.
    let lastQueueError = '';
    const wakeUps = new WakeUps(redis, opts.prefix, (err) => {
      if (err.message !== lastQueueError) logger.warn({ err: err.message }, 'job queue: redis trouble; wake-ups are re-sent when it is back');
      lastQueueError = err.message;
    });
    redis.on('ready', () => void (lastQueueError = ''));
    cleanups.push(() => wakeUps.close());
    logger.info({ redis: redactRedisUrl(opts.redis), prefix: opts.prefix, log: log.location }, 'connected to redis; holding the event log writer lock');

    const health = { lastError: null as string | null, lastRunAt: null as string | null, head: 0, woken: {} as Record<string, number> };
    // Wake-ups are chained: each sees the head after the run before it.
    let waking: Promise<void> = Promise.resolve();
    const wakeAll = (why: string): Promise<void> =>
      (waking = waking.then(async () => {
        try {
          const head = await registry.logHead();
          health.head = head;
          const nodes = await registry.wakeTargets(forgetAfterMs);
          const sent = await wakeUps.wake(nodes, head);
          for (const n of sent) health.woken[n] = head;
          if (sent.length > 0) logger.debug({ why, head, nodes: sent }, 'woke nodes');
        } catch (err) {
          // The next run (poll, reconnect) sends them: sent seqs are only recorded on success.
          logger.warn({ why, err: (err as Error).message }, 'could not enqueue wake-ups; retrying with the next run');
        }
      }));

    watcher = await startRepoWatcher(src, opts, {
      log,
      capacity,
      pollMs,
      logger,
      health,
      onRun: (result) => void wakeAll(result.commits > 0 ? 'commits' : 'run'),
    });
    const w = watcher;
    cleanups.push(() => w.close());
    // The start run appended what was missed; wake everyone for it (and for anything a crash left unsent).
    await wakeAll('start');

    // After a Redis outage: run now, and re-send wake-ups (a job enqueued into the outage may be lost).
    let everReady = false;
    const onReady = () => {
      if (!everReady) return void (everReady = true);
      logger.info('redis connection is back; running the watcher and re-sending wake-ups');
      wakeUps.forget();
      w.trigger('redis-reconnect').catch(() => undefined);
      void wakeAll('redis reconnect');
    };
    onReady();
    redis.on('ready', onReady);
    cleanups.push(() => void redis.off('ready', onReady));

    if (opts.http) {
      const metricsRegistry = new Registry();
      // read at scrape time from the watcher's own state
      new Gauge({
        name: 'rauta_watcher_log_head',
        help: 'Seq of the last event in the log, as of the last wake-up round',
        registers: [metricsRegistry],
        collect() {
          this.set(health.head);
        },
      });
      new Gauge({
        name: 'rauta_watcher_runs',
        help: 'Watcher runs (fetch, diff, append) since start',
        registers: [metricsRegistry],
        collect() {
          this.set(w.stats.runs);
        },
      });
      new Gauge({
        name: 'rauta_watcher_failing',
        help: '1 while the last watcher run failed',
        registers: [metricsRegistry],
        collect() {
          this.set(health.lastError === null ? 0 : 1);
        },
      });
      const http = await startHttpServer({
        listen: opts.http,
        metrics: { registry: metricsRegistry, render: () => metricsRegistry.metrics(), contentType: metricsRegistry.contentType },
        health: () => ({ ok: health.lastError === null, body: { status: health.lastError === null ? 'ok' : 'failing', ...health } }),
        status: () => ({ ...health, runs: w.stats.runs, repo: src.url, branch: opts.branch, root: opts.root, log: log.location }),
        handlers: [(req, res) => w.webhook(req, res)],
        onError: (err) => logger.warn({ err }, 'http handler failed'),
      });
      cleanups.push(() => http.close());
      logger.info({ url: http.url, endpoints: ['/metrics', '/healthz', '/status', 'POST /hooks/git'] }, 'http listening');
      warnUnsignedWebhook(src, opts.http, logger);
    }

    await stopSignal;
    // watcher first (no new events), then the last wake-ups, then the connections
    await w.close();
    await boundedClose(waking, 2000); // during a Redis outage the wake-ups cannot be sent anyway
    await closeAll();
    logger.info('stopped');
    return 0;
  } catch (err) {
    await closeAll();
    if (isStopping() && (err as RautaError).code === 'RAUTA_ERR_LOG_LOCKED') {
      logger.info('stopped while waiting as a standby');
      return 0;
    }
    throw err;
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('watch')
    .description('Multi-node: watch a routes repo, append its commits to the Redis event log and wake every registered node (BullMQ)')
    // No commander defaults for secrets (the Redis URL has the password): --help would print them.
    .option('--redis <url>', 'redis://[:PASSWORD@]HOST:PORT[/DB] (default: env RAUTA_REDIS_URL)')
    .option('--prefix <prefix>', 'Redis key prefix shared with `rauta agent` and `rauta status`', DEFAULT_PREFIX)
    .option('--repo <path|url>', 'routes repository: a local path (watched at once) or an http(s) URL (polled, plus the webhook)', '.')
    .option('--branch <name>', 'branch to follow', 'main')
    .option('--root <subdir>', 'folder inside the repository that holds the route files', '')
    .option('--state-dir <dir>', 'the git cache of a remote repository', '.rauta')
    .option('--poll <seconds>', 'poll the repository this often as well (default: 5 local, 15 remote)')
    .option(
      '--forget-after <seconds>',
      'keep waking a node that went stale without stopping for this long (a partition heals: its wake-ups wait in its queue)',
      '600',
    )
    .option('--http <addr:port>', 'serve POST /hooks/git, /metrics, /healthz and /status here (default: none)')
    .option('--webhook-secret <secret>', 'HMAC secret for POST /hooks/git (visible in ps: prefer the file or env RAUTA_WEBHOOK_SECRET)')
    .option('--webhook-secret-file <file>', 'read the webhook HMAC secret from this file')
    .option('--git-password-file <file>', 'remote repository: password or token for the fetch (default: env RAUTA_GIT_PASSWORD; user: env RAUTA_GIT_USERNAME)')
    .option('--log-level <level>', 'trace, debug, info, warn, error (default: env RAUTA_LOG_LEVEL or info)');
  addCapacityOptions(cmd)
    .addHelpText(
      'after',
      '\nExamples:\n  rauta watch --redis redis://redis:6379 --repo /srv/routes --root routes\n  rauta watch --redis redis://:secret@10.0.0.5:6379 --repo https://git.example/routes.git --http 0.0.0.0:9470\n\n' +
        'One watcher writes a log; another one on the same --prefix waits as a standby and takes over when\n' +
        "the lock frees (a crashed writer's lock expires after 10 s). SIGTERM/SIGINT exit 0.",
    )
    .action(async (opts: WatchOptions) => {
      process.exitCode = await runWatch({ ...opts, redis: redisUrlFrom(opts.redis) });
      exitAfterStop(process.exitCode);
    });
}
