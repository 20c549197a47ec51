// `rauta status`: one table for all nodes (node, commit, seq, lag, state, last
// error, last seen), stale nodes marked. Exit 0 when every live node is on the
// log head and not failing, 1 when one is behind or failing or none is live, 2 when Redis (or
// the node's HTTP endpoint) cannot be reached. --http asks an embedded
// `rauta run` (or an agent with --http) for its /status instead of Redis.
import type { Command } from 'commander';
import type { AgentStatus } from '../agent/agent-status.js';
import { checkPrefix, DEFAULT_PREFIX } from '../cluster/cluster-keys.js';
import { NodeRegistry, type NodeView } from '../cluster/node-registry.js';
import { checkRedisUrl, connectClusterRedis } from '../cluster/redis-connection.js';
import { buildStatusReport, renderStatusTable, type StatusReport } from '../cluster/status-report.js';
import { redactRedisUrl } from '../events/redis-log.js';
import { RautaError } from '../errors.js';

export interface StatusOptions {
  redis?: string;
  prefix: string;
  http?: string;
  json?: boolean;
}

export async function statusFromRedis(url: string, prefix: string): Promise<StatusReport> {
  checkRedisUrl(url);
  checkPrefix(prefix);
  const redis = await connectClusterRedis(url, { purpose: `status, prefix ${prefix}` });
  try {
    const registry = new NodeRegistry(redis, prefix);
    // the head first: a node that applies meanwhile only looks better, never falsely behind
    const head = await registry.logHead();
    const nodes = await registry.list();
    return buildStatusReport(`${redactRedisUrl(url)} prefix ${prefix}`, head, nodes);
  } finally {
    redis.disconnect();
  }
}

export async function statusFromHttp(base: string): Promise<StatusReport> {
  const url = `${base.replace(/\/+$/, '')}/status`;
  let st: AgentStatus & { log?: { reachable: boolean; since: string | null; error: string | null } };
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    st = (await res.json()) as typeof st;
  } catch (err) {
    throw new RautaError(
      'RAUTA_ERR_USAGE',
      `--http ${base}: cannot read ${url}: ${(err as Error).message}; is \`rauta run\` (or \`rauta agent --http\`) listening there?`,
      { cause: err },
    );
  }
  const now = new Date().toISOString();
  // An agent that cannot reach its event log (Redis) cannot know its lag: that is failing, not "on the head".
  if (st.log && !st.log.reachable) {
    st = {
      ...st,
      state: 'failing',
      consecutiveFailures: Math.max(1, st.consecutiveFailures),
      lastError: {
        code: 'RAUTA_ERR_LOG_BACKEND',
        message: `event log unreachable since ${st.log.since ?? '?'}${st.log.error ? ` (${st.log.error})` : ''}`,
        at: st.log.since ?? now,
        op: null,
        errno: null,
        rolledBack: null,
      },
    };
  }
  const view: NodeView = {
    node: st.node,
    version: '?',
    host: '?',
    pid: 0,
    pinDir: null,
    iface: null,
    http: base,
    startedAt: '',
    lastSeen: now,
    state: st.state,
    appliedSeq: st.appliedSeq,
    appliedCommit: st.appliedCommit,
    headSeq: st.headSeq,
    lag: st.lag,
    lastError: st.lastError ? { code: st.lastError.code, message: st.lastError.message, at: st.lastError.at } : null,
    lastApplyAt: st.lastApplyAt,
    lastRejected: null,
    consecutiveFailures: st.consecutiveFailures,
    jobs: 0,
    health: st.health ?? null,
    live: true,
  };
  return buildStatusReport(url, st.headSeq, [view]);
}

export function register(program: Command): void {
  program
    .command('status')
    .description('One table for all nodes: applied commit and seq, lag, state, last error, last seen; exit 1 when a live node is behind or failing')
    // No commander default: --help would print the URL with its password.
    .option('--redis <url>', "the cluster's Redis (default: env RAUTA_REDIS_URL)")
    .option('--prefix <prefix>', 'Redis key prefix', DEFAULT_PREFIX)
    .option('--http <url>', "ask one node's HTTP endpoint (an embedded `rauta run`, e.g. http://127.0.0.1:9464) instead of Redis")
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExit codes: 0 every live node is on the log head and healthy; 1 a live node is behind or failing, or no node is live;\n' +
        '2 usage error, or Redis / the endpoint cannot be reached. Stale nodes (no heartbeat) are shown, not counted.\n\n' +
        'Examples:\n  rauta status --redis redis://redis:6379\n  rauta status --http http://127.0.0.1:9464 --json',
    )
    .action(async (opts: StatusOptions) => {
      let report: StatusReport;
      if (opts.http) report = await statusFromHttp(opts.http);
      else if (opts.redis ?? process.env.RAUTA_REDIS_URL) report = await statusFromRedis(opts.redis ?? process.env.RAUTA_REDIS_URL ?? '', opts.prefix);
      else throw new RautaError('RAUTA_ERR_USAGE', 'give --redis URL (or set RAUTA_REDIS_URL), or --http URL of an embedded node');
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderStatusTable(report));
      process.exitCode = report.exitCode;
    });
}
