// The node agent of the multi-node mode (`rauta agent`): this node's XDP
// program and maps, the Redis Streams event log (read only), and a BullMQ
// worker (concurrency 1) on this node's queue. A job says "reconcile up to
// seq N"; the agent reads the log from its own applied seq and applies with
// the NodeAgent's fold/plan/apply, so a job is a wake-up, never data.
//
// Start order: connect (a bad URL or password fails here, before anything is
// loaded), load and attach, register with a heartbeat, catch up from the log
// (an agent that was down applies what it missed), then take jobs. Safety
// nets: a resync timer and every Redis reconnect reconcile to the head, so a
// wake-up lost while the agent was away costs at most one interval.
// SIGTERM/SIGINT: finish the current job, mark the node stopped, close every
// connection; program and maps stay pinned and attached.
import { processLifecycle } from '../src/runtime/process-lifecycle.js';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { NodeAgent } from '../src/agent/node-agent.js';
import { checkXdpMode, openNodeDataplane } from '../src/agent/node-dataplane.js';
import { checkNodeName, checkPrefix } from '../src/cluster/cluster-keys.js';
import { NodeRegistry, nodeRecord, type NodeIdentity } from '../src/cluster/node-registry.js';
import { seconds } from '../src/runtime/seconds.js';
import { reconcileJob } from '../src/cluster/reconcile-job.js';
import { boundedClose, createReconcileWorker } from '../src/cluster/reconcile-queue.js';
import { checkRedisUrl, connectClusterRedis } from '../src/cluster/redis-connection.js';
import { normalizeMac } from '../src/dataplane/nexthops.js';
import { openRedisLog, redactRedisUrl } from '../src/events/redis-log.js';
import { RautaError } from '../src/errors.js';
import { agentHealth, type LogHealth } from '../src/observability/health.js';
import { parseCapacity, type CapacityOptions } from '../src/routes/capacity.js';
import { claimPinDir } from '../src/dataplane/pin-dir-lock.js';
import { DEFAULT_OBJECT } from '../src/dataplane/program.js';
import { parseListen, startHttpServer } from '../src/observability/http-server.js';
import { createLogger } from '../src/observability/logger.js';
import { createNodeMetrics } from '../src/observability/metrics.js';

export interface AgentNodeOptions extends CapacityOptions {
  redis: string;
  node: string;
  prefix: string;
  pinDir: string;
  iface?: string;
  xdpMode: string;
  stateDir: string;
  gatewayMac?: string;
  /** "" or undefined: no HTTP endpoint */
  http?: string;
  heartbeat: string;
  resync: string;
  driftInterval: string;
  jobLock: string;
  logLevel?: string;
}

export const RAUTA_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Test-only fault: hold each job this long before reconciling, so a test can kill the agent mid-job. */
function jobHoldMs(): number {
  const v = Number(process.env.RAUTA_FAULT_JOB_HOLD_MS ?? 0);
  return Number.isFinite(v) && v > 0 ? v : 0;
}

export async function runAgentNode(opts: AgentNodeOptions, signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): Promise<number> {
  // Usage first: nothing is connected, loaded or pinned on a bad flag.
  checkRedisUrl(opts.redis);
  checkNodeName(opts.node);
  checkPrefix(opts.prefix);
  checkXdpMode(opts.xdpMode);
  const gatewayMac = opts.gatewayMac ? normalizeMac(opts.gatewayMac, '--gateway-mac') : null;
  const heartbeatMs = seconds(opts.heartbeat, '--heartbeat', 0.1);
  const resyncMs = seconds(opts.resync, '--resync');
  const driftMs = seconds(opts.driftInterval, '--drift-interval');
  const lockMs = seconds(opts.jobLock, '--job-lock', 1);
  if (opts.http) parseListen(opts.http);
  const capacity = parseCapacity(opts);
  const logger = createLogger({ level: (opts.logLevel as 'info' | undefined) ?? undefined }).child({ node: opts.node });
  const stateDir = resolve(opts.stateDir);

  const { cleanups, closeAll, stopSignal, isStopping } = processLifecycle(logger, signals, 'stopping: finishing the current job; program and maps stay attached and pinned');

  try {

    // 1. Redis: the log (read only) and the cluster connection. Errors here name the URL and what to check.
    const log = await openRedisLog(opts.redis, { prefix: opts.prefix, logger });
    cleanups.push(async () => void (await boundedClose(log.close(), 2000)));
    const redis: Redis = await connectClusterRedis(opts.redis, { purpose: `node ${opts.node}, prefix ${opts.prefix}` });
    cleanups.push(async () => {
      await boundedClose(redis.quit(), 1000);
      redis.disconnect();
    });
    const registry = new NodeRegistry(redis, opts.prefix, heartbeatMs * 3);
    logger.info({ redis: redactRedisUrl(opts.redis), prefix: opts.prefix }, 'connected to redis');
    // While Redis is away the node cannot see new commits: /healthz says so instead of "ok, lag 0".
    const logHealth: LogHealth = { reachable: true, since: null, error: null };
    const onRedisError = (err: Error): void => void (logHealth.error = err.message);
    const onRedisClose = (): void => {
      if (!logHealth.reachable) return;
      logHealth.reachable = false;
      logHealth.since = new Date().toISOString();
    };
    const onRedisReady = (): void => {
      Object.assign(logHealth, { reachable: true, since: null, error: null });
    };
    redis.on('error', onRedisError).on('close', onRedisClose).on('ready', onRedisReady);
    cleanups.push(() => void redis.off('error', onRedisError).off('close', onRedisClose).off('ready', onRedisReady));

    // 2. This node's data plane. One owner per pin directory, claimed before anything is loaded
    //    or registered (a second agent on it exits 2 naming the first).
    const pinLock = claimPinDir(opts.pinDir, DEFAULT_OBJECT);
    cleanups.push(() => pinLock.release());
    await mkdir(stateDir, { recursive: true });
    const dataplane = openNodeDataplane({ pinDir: opts.pinDir, iface: opts.iface, xdpMode: opts.xdpMode, gatewayMac, logger, capacity });
    cleanups.push(() => dataplane.close());
    const agent = new NodeAgent({ node: opts.node, log, maps: dataplane.prog.typed, stateDir, logger, nexthops: dataplane.nexthops });

    let jobs = 0;

    // 3. HTTP (optional): metrics, health, status.
    let httpUrl: string | null = null;
    if (opts.http) {
      const metrics = createNodeMetrics({ agent, readXdpCounters: () => dataplane.prog.typed.readMetrics(), readFlows: () => dataplane.flows(), processMetrics: true });
      const http = await startHttpServer({
        listen: opts.http,
        metrics,
        health: () => agentHealth(agent.status(), undefined, logHealth),
        status: () => ({ ...agent.status(), log: logHealth, cluster: { redis: redactRedisUrl(opts.redis), prefix: opts.prefix, jobs }, dataplane: { pinDir: opts.pinDir, iface: opts.iface ?? null, xdpMode: dataplane.xdpMode, flows: dataplane.flows().census } }),
        onError: (err) => logger.warn({ err }, 'http handler failed'),
      });
      cleanups.push(() => http.close());
      httpUrl = http.url;
      logger.info({ url: http.url, endpoints: ['/metrics', '/healthz', '/status'] }, 'http listening');
    }

    // 4. Register and heartbeat.
    const identity: NodeIdentity = {
      node: opts.node,
      version: RAUTA_VERSION,
      host: hostname(),
      pid: process.pid,
      pinDir: opts.pinDir,
      iface: opts.iface ?? null,
      http: httpUrl,
      startedAt: new Date().toISOString(),
    };
    // One publish at a time; calls meanwhile fold into one more after it (a Redis outage queues no backlog).
    let publishing: Promise<void> | null = null;
    let publishAgain = false;
    let lastPublishError = '';
    const publishOnce = async (): Promise<void> => {
      try {
        await registry.publish(nodeRecord(identity, agent.status(), jobs));
        if (lastPublishError) logger.info('status published again');
        lastPublishError = '';
      } catch (err) {
        const msg = (err as Error).message;
        if (msg !== lastPublishError) logger.warn({ err: msg }, 'publishing the node status failed; retrying with the next heartbeat');
        lastPublishError = msg;
      }
    };
    const publish = (): Promise<void> => {
      if (publishing) {
        publishAgain = true;
        return publishing;
      }
      publishing = (async () => {
        do {
          publishAgain = false;
          await publishOnce();
        } while (publishAgain);
        publishing = null;
      })();
      return publishing;
    };
    await publish();
    const heartbeat = setInterval(() => void publish(), heartbeatMs);
    cleanups.push(async () => {
      clearInterval(heartbeat);
      if (publishing) await boundedClose(publishing, 2000);
      const marked = registry.markStopped(nodeRecord(identity, agent.status(), jobs)).catch((err: unknown) => logger.warn({ err }, 'could not mark the node stopped'));
      if ((await boundedClose(marked, 2000)) === 'timed out') logger.warn('could not mark the node stopped (redis unreachable); it goes stale when its heartbeat expires');
    });

    // 5. Catch up from the log before taking jobs.
    const started = await agent.start();
    logger.info({ state: started.state, appliedSeq: started.appliedSeq, appliedCommit: started.appliedCommit, headSeq: started.headSeq }, 'agent started');
    cleanups.push(() => agent.stop());
    await publish();

    // 6. Reconcile to the head (resync timer, reconnects); failures are logged and retried by the next trigger.
    const catchUp = async (why: string): Promise<void> => {
      try {
        const st = await agent.reconcile();
        if (st.state === 'failing') logger.warn({ why, error: st.lastError?.message }, 'catch-up left the node failing; retrying');
      } catch (err) {
        logger.warn({ why, err: (err as Error).message }, 'catch-up failed; retrying');
      }
      await publish();
    };
    const timers: NodeJS.Timeout[] = [];
    if (resyncMs > 0) timers.push(setInterval(() => void catchUp('resync'), resyncMs));
    if (driftMs > 0) {
      timers.push(
        setInterval(() => {
          void agent
            .checkDrift()
            .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'drift check failed'))
            .then(() => publish());
        }, driftMs),
      );
    }
    // After a Redis outage: the log reconnects on its own; give it a moment, then catch up.
    let everReady = false;
    let reconnectTimer: NodeJS.Timeout | null = null;
    const onReady = () => {
      if (!everReady) return void (everReady = true);
      logger.info('redis connection is back; catching up from the log');
      if (reconnectTimer) clearTimeout(reconnectTimer);
      let tries = 0;
      const attempt = async () => {
        reconnectTimer = null;
        await catchUp('redis reconnect');
        if (agent.status().state === 'failing' && ++tries < 30 && !isStopping()) reconnectTimer = setTimeout(() => void attempt(), 1000);
      };
      reconnectTimer = setTimeout(() => void attempt(), 100);
    };
    onReady();
    redis.on('ready', onReady);
    cleanups.push(() => {
      redis.off('ready', onReady);
      if (reconnectTimer) clearTimeout(reconnectTimer);
      for (const t of timers) clearInterval(t);
    });

    // 7. The BullMQ worker: one job at a time, each a wake-up.
    let lastWorkerError = '';
    const processJob = reconcileJob(agent, {
      logger,
      holdMs: jobHoldMs(),
      onDone: () => {
        jobs++;
        void publish();
      },
    });
    const worker = createReconcileWorker(redis, opts.prefix, opts.node, processJob, {
      lockMs,
      onError: (err) => {
        if (err.message !== lastWorkerError) logger.warn({ err: err.message }, 'job queue: redis trouble; the worker reconnects on its own');
        lastWorkerError = err.message;
      },
    });
    worker.on('failed', (job, err) => logger.warn({ job: job?.id, attempts: job?.attemptsMade, err: err.message }, 'job failed; BullMQ retries it with backoff'));
    // Closed first on the way out: the current job finishes, no new one starts. During a Redis
    // outage the job cannot be marked done: give up after a while (it is retried, harmlessly).
    cleanups.push(async () => {
      if ((await boundedClose(worker.close(), lockMs)) === 'timed out') {
        logger.warn('the current job could not be finished (redis unreachable?); it will be retried');
        await boundedClose(worker.close(true), 1000);
      }
    });
    await worker.waitUntilReady();
    logger.info({ queue: worker.name, lockMs }, 'taking reconcile jobs');

    await stopSignal;
    await closeAll();
    logger.info('stopped');
    return 0;
  } catch (err) {
    await closeAll();
    throw err;
  }
}
