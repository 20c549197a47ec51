// The node agent of the multi-node mode (`rauta agent`): this node's XDP
// program and maps, the Redis Streams event log (read only), and the
// NodeAgent's scheduler woken by a BullMQ worker (concurrency 1) on this
// node's queue. A job says "reconcile up to seq N"; the agent reads the log
// from its own applied seq, so a job is a wake-up, never data.
//
// Start order: connect (a bad URL or password fails here, before anything is
// loaded), load and attach, register with a heartbeat, catch up from the log
// (an agent that was down applies what it missed), then take jobs. Safety
// nets: the agent's resync timer and every Redis reconnect reconcile to the
// head, so a wake-up lost while the agent was away costs at most one interval.
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
import { jobWakeSource } from '../src/cluster/reconcile-job.js';
import { boundedClose } from '../src/cluster/reconcile-queue.js';
import { checkRedisUrl, connectClusterRedis } from '../src/cluster/redis-connection.js';
import { normalizeMac } from '../src/dataplane/nexthops.js';
import { openRedisLog, redactRedisUrl } from '../src/events/redis-log.js';
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

  const { cleanups, closeAll, stopSignal } = processLifecycle(
    logger,
    signals,
    'stopping: finishing the current job; program and maps stay attached and pinned',
  );

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
    let jobs = 0;
    const wakeSource = jobWakeSource({
      connection: redis,
      prefix: opts.prefix,
      node: opts.node,
      lockMs,
      logger,
      holdMs: jobHoldMs(),
      onDone: () => {
        jobs++;
        void publish();
      },
    });
    const agent = new NodeAgent({
      node: opts.node,
      log,
      maps: dataplane.prog.typed,
      stateDir,
      logger,
      nexthops: dataplane.nexthops,
      health: dataplane.health,
      wakeSource,
      driftIntervalMs: driftMs,
      resyncIntervalMs: resyncMs,
    });

    dataplane.health.bind(agent);

    // 3. HTTP (optional): metrics, health, status.
    let httpUrl: string | null = null;
    if (opts.http) {
      const metrics = createNodeMetrics({
        agent,
        readXdpCounters: () => dataplane.prog.typed.readMetrics(),
        readFlows: () => dataplane.flows(),
        readHealth: () => dataplane.health.targets(),
        processMetrics: true,
      });
      const http = await startHttpServer({
        listen: opts.http,
        metrics,
        health: () => agentHealth(agent.status(), undefined, logHealth),
        status: () => ({
          ...agent.status(),
          log: logHealth,
          cluster: { redis: redactRedisUrl(opts.redis), prefix: opts.prefix, jobs },
          dataplane: { pinDir: opts.pinDir, iface: opts.iface ?? null, xdpMode: dataplane.xdpMode, flows: dataplane.flows().census },
        }),
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
      const marked = registry
        .markStopped(nodeRecord(identity, agent.status(), jobs))
        .catch((err: unknown) => logger.warn({ err }, 'could not mark the node stopped'));
      if ((await boundedClose(marked, 2000)) === 'timed out')
        logger.warn('could not mark the node stopped (redis unreachable); it goes stale when its heartbeat expires');
    });

    // 5. Catch up from the log before taking jobs.
    const started = await agent.start();
    logger.info({ state: started.state, appliedSeq: started.appliedSeq, appliedCommit: started.appliedCommit, headSeq: started.headSeq }, 'agent started');
    dataplane.attachWhenReady(agent);
    await publish();

    // 6. The scheduler, woken by this node's BullMQ jobs. Drift checks, the resync timer and
    //    retries are the agent's, as in embedded mode. A Redis reconnect is one more wake-up.
    const runDone = agent.run();
    cleanups.push(async () => {
      await agent.stop(); // closes the job worker first: the job in hand finishes
      await runDone;
    });
    let everReady = false;
    const onReady = (): void => {
      if (!everReady) return void (everReady = true);
      logger.info('redis connection is back; catching up from the log');
      void agent.wake().then(() => publish());
    };
    onReady();
    redis.on('ready', onReady);
    cleanups.push(() => void redis.off('ready', onReady));

    await stopSignal;
    await closeAll();
    logger.info('stopped');
    return 0;
  } catch (err) {
    await closeAll();
    throw err;
  }
}
