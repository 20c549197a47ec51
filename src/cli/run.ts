// `rauta run`: embedded mode. The Git watcher, the file event log and the node
// agent in one process: a commit on the watched branch is in the maps a moment
// later. The XDP program and its maps are pinned under --pin-dir and stay
// attached when the process stops (SIGTERM/SIGINT finish the current apply,
// then exit 0), so traffic keeps flowing across restarts; a restart reuses
// the pinned maps, reads them back and converges.
import { exitAfterStop, processLifecycle } from '../runtime/process-lifecycle.js';
import { seconds } from '../runtime/seconds.js';
import type { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { NodeAgent } from '../agent/node-agent.js';
import { checkXdpMode, openNodeDataplane } from '../agent/node-dataplane.js';
import { normalizeMac } from '../dataplane/nexthops.js';
import { claimPinDir } from '../dataplane/pin-dir-lock.js';
import { DEFAULT_OBJECT, DEFAULT_PIN_DIR } from '../dataplane/program.js';
import { openEventLog } from '../events/event-log.js';
import type { Watcher } from '../git/watcher.js';
import { agentHealth, type WatcherHealth } from '../observability/health.js';
import { parseListen, startHttpServer } from '../observability/http-server.js';
import { createLogger } from '../observability/logger.js';
import { createNodeMetrics } from '../observability/metrics.js';
import { addCapacityOptions } from './capacity-options.js';
import { parseCapacity, type CapacityOptions } from '../routes/capacity.js';
import { repoSource, startRepoWatcher, warnRepoSource, warnUnsignedWebhook } from './repo-watch.js';

export interface RunOptions extends CapacityOptions {
  repo: string;
  branch: string;
  root: string;
  iface?: string;
  xdpMode: string;
  pinDir: string;
  stateDir: string;
  http: string;
  gatewayMac?: string;
  webhookSecret?: string;
  webhookSecretFile?: string;
  gitPasswordFile?: string;
  node: string;
  driftInterval: string;
  resync: string;
  poll?: string;
  logLevel?: string;
}

export async function runEmbedded(opts: RunOptions, signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): Promise<number> {
  checkXdpMode(opts.xdpMode);
  const gatewayMac = opts.gatewayMac ? normalizeMac(opts.gatewayMac, '--gateway-mac') : null;
  const driftIntervalMs = seconds(opts.driftInterval, '--drift-interval');
  const resyncIntervalMs = seconds(opts.resync, '--resync');
  const pollMs = opts.poll !== undefined ? seconds(opts.poll, '--poll') : undefined;
  const capacity = parseCapacity(opts);
  // Fail on a bad repository path or address before anything is loaded or pinned.
  parseListen(opts.http);
  const src = repoSource(opts);
  const logger = createLogger({ level: (opts.logLevel as 'info' | undefined) ?? undefined });
  warnRepoSource(src, logger);
  const stateDir = resolve(opts.stateDir);

  // Everything opened so far is closed in reverse on the way out (also when start-up fails).
  const { cleanups, closeAll, stopSignal } = processLifecycle(
    logger,
    signals,
    'stopping: finishing the current apply; program and maps stay attached and pinned',
  );

  try {
    // Before anything is written: one owner per pin directory (a second process exits 2 naming the first).
    const pinLock = claimPinDir(opts.pinDir, DEFAULT_OBJECT);
    cleanups.push(() => pinLock.release());
    await mkdir(stateDir, { recursive: true });

    const log = await openEventLog(join(stateDir, 'events.log'), { writer: true, logger });
    cleanups.push(() => log.close());

    const dataplane = openNodeDataplane({ pinDir: opts.pinDir, iface: opts.iface, xdpMode: opts.xdpMode, gatewayMac, logger, capacity });
    cleanups.push(() => dataplane.close()); // closes our fds only: the pins and the attachment keep both alive
    const { prog } = dataplane;

    const agent = new NodeAgent({
      node: opts.node,
      log,
      maps: prog.typed,
      stateDir,
      logger,
      driftIntervalMs,
      resyncIntervalMs,
      nexthops: dataplane.nexthops,
      health: dataplane.health,
    });

    dataplane.health.bind(agent);

    const watcherHealth: WatcherHealth = { lastError: null, lastRunAt: null };
    let watcher: Watcher | null = null;
    const metrics = createNodeMetrics({
      agent,
      readXdpCounters: () => prog.typed.readMetrics(),
      readFlows: () => dataplane.flows(),
      readHealth: () => dataplane.health.targets(),
      processMetrics: true,
    });
    const http = await startHttpServer({
      listen: opts.http,
      metrics,
      health: () => agentHealth(agent.status(), watcherHealth),
      status: () => ({
        ...agent.status(),
        watcher: { ...watcherHealth, runs: watcher?.stats.runs ?? 0, repo: src.url, branch: opts.branch, root: opts.root },
        dataplane: { pinDir: opts.pinDir, iface: opts.iface ?? null, xdpMode: dataplane.xdpMode, flows: dataplane.flows().census },
      }),
      // The webhook is the watcher's; it is mounted before the watcher exists so the port is known early.
      handlers: [(req, res) => (watcher ? watcher.webhook(req, res) : Promise.resolve(false))],
      onError: (err) => logger.warn({ err }, 'http handler failed'),
    });
    cleanups.push(() => http.close());
    logger.info({ url: http.url, endpoints: ['/metrics', '/healthz', '/status', 'POST /hooks/git'] }, 'http listening');
    warnUnsignedWebhook(src, opts.http, logger);

    // Apply what the log already holds (a restart) before new commits arrive.
    const started = await agent.start();
    logger.info({ state: started.state, appliedSeq: started.appliedSeq, appliedCommit: started.appliedCommit }, 'agent started');
    dataplane.attachWhenReady(agent);
    const runDone = agent.run();
    cleanups.push(async () => {
      await agent.stop();
      await runDone;
    });

    watcher = await startRepoWatcher(src, opts, { log, capacity, pollMs, logger, health: watcherHealth });
    // Closed first on the way out: no new events while the agent finishes.
    const w = watcher;
    cleanups.push(() => w.close());

    await stopSignal;
    await closeAll();
    logger.info('stopped');
    return 0;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('Embedded mode: watch a routes repo, keep the event log, and apply every commit to the XDP maps of this node')
    .option('--repo <path|url>', 'routes repository: a local path (watched at once) or an http(s) URL (polled, plus the webhook)', '.')
    .option('--branch <name>', 'branch to follow', 'main')
    .option('--root <subdir>', 'folder inside the repository that holds the route files', '')
    .option('--iface <name>', 'attach the XDP program to this interface (without it: load and pin only)')
    .option('--xdp-mode <mode>', 'auto (native, falling back to generic with a warning), native or generic', 'auto')
    .option('--pin-dir <dir>', 'bpffs directory for the program and maps (reused on restart)', DEFAULT_PIN_DIR)
    .option('--state-dir <dir>', 'event log, desired-state snapshots and the git cache', '.rauta')
    .option('--http <addr:port>', 'metrics, health and webhook endpoint', '127.0.0.1:9464')
    .option('--gateway-mac <mac>', 'destination MAC for backends the neighbour table does not resolve')
    // No commander defaults for secrets: --help would print them.
    .option('--webhook-secret <secret>', 'HMAC secret for POST /hooks/git (visible in ps: prefer the file or env RAUTA_WEBHOOK_SECRET)')
    .option('--webhook-secret-file <file>', 'read the webhook HMAC secret from this file')
    .option('--git-password-file <file>', 'remote repository: password or token for the fetch (default: env RAUTA_GIT_PASSWORD; user: env RAUTA_GIT_USERNAME)')
    .option('--node <name>', 'node name in logs, status and metrics', os.hostname())
    .option('--drift-interval <seconds>', 'how often to read the maps back and repair differences (0: never)', '30')
    .option('--resync <seconds>', 'reconcile to the log head when nothing woke the agent for this long (0: never)', '30')
    .option('--poll <seconds>', 'poll the repository this often as well (default: 5 local, 15 remote)')
    .option('--log-level <level>', 'trace, debug, info, warn, error (default: env RAUTA_LOG_LEVEL or info)');
  addCapacityOptions(cmd)
    .addHelpText(
      'after',
      '\nExamples:\n  rauta run --repo .rauta/demo-repo --iface rauta0\n  rauta run --repo https://git.example/routes.git --root routes --iface eth0 --http 0.0.0.0:9464\n\n' +
        'Endpoints: GET /metrics, GET /healthz (200 ok, 503 failing), GET /status, POST /hooks/git.\n' +
        'SIGTERM/SIGINT finish the current apply and exit 0; the program stays attached and the maps pinned.',
    )
    .action(async (opts: RunOptions) => {
      process.exitCode = await runEmbedded(opts);
      exitAfterStop(process.exitCode);
    });
}
