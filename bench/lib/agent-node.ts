// One "node" for the multi-node rows of commit-to-applied: its own process, its own
// program and pin dir, a NodeAgent reading the Redis Streams event log. Reports every
// commit it has applied to the parent as {commit, at}, `at` on the machine's clock
// (performance.timeOrigin + performance.now(): comparable across processes).
// Config in RAUTA_BENCH_NODE (JSON); stops on SIGTERM or when the parent goes away.
import { pino } from 'pino';
import { NodeAgent } from '../../src/agent/node-agent.js';
import { openEventLog } from '../../src/events/event-log.js';
import { freshProgram } from './sync.js';

interface NodeConfig {
  node: string;
  redisUrl: string;
  prefix: string;
  pinDir: string;
  stateDir: string;
}

export interface NodeMessage {
  node: string;
  commit?: string;
  at?: number;
  ready?: boolean;
  error?: string;
}

function macFor(ip: string): string {
  return ['02', ...ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')), '01'].join(':');
}

const cfg = JSON.parse(process.env.RAUTA_BENCH_NODE ?? '{}') as NodeConfig;
const send = (m: NodeMessage) => process.send?.(m);
const now = () => performance.timeOrigin + performance.now();

const prog = freshProgram(cfg.pinDir, 1024);
const log = await openEventLog(cfg.redisUrl, { prefix: cfg.prefix, logger: { warn: () => undefined } });
const agent = new NodeAgent({
  node: cfg.node,
  log,
  maps: prog.typed,
  stateDir: cfg.stateDir,
  logger: pino({ level: 'silent' }),
  nexthops: async (ips) => Object.fromEntries(ips.map((ip) => [ip, macFor(ip)])),
});
let last: string | null = null;
const report = () => {
  const c = agent.status().appliedCommit;
  if (c && c !== last) {
    last = c;
    send({ node: cfg.node, commit: c, at: now() });
  }
};
// the 'applied' event is exact; the 1 ms poll sees commits with nothing to write (no event)
agent.on('applied', report);
const poll = setInterval(report, 1);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  clearInterval(poll);
  await agent.stop().catch(() => undefined);
  await log.close().catch(() => undefined);
  prog.dispose();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('disconnect', () => void stop());
try {
  await agent.start();
  void agent.run();
  send({ node: cfg.node, ready: true });
} catch (err) {
  send({ node: cfg.node, error: err instanceof Error ? err.message : String(err) });
  await stop();
}
