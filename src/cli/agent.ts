// `rauta agent`: one node of the multi-node mode. The work is in worker/node-worker.ts.
import type { Command } from 'commander';
import os from 'node:os';
import { runAgentNode, type AgentNodeOptions } from '../../worker/node-worker.js';
import { DEFAULT_PREFIX } from '../cluster/cluster-keys.js';
import { DEFAULT_PIN_DIR } from '../dataplane/program.js';
import { addCapacityOptions } from './capacity-options.js';
import { exitAfterStop } from '../runtime/process-lifecycle.js';
import { redisUrlFrom } from './secrets.js';

export function register(program: Command): void {
  const cmd = program
    .command('agent')
    .description("Multi-node: apply the Redis event log to this node's XDP maps, woken by BullMQ jobs from `rauta watch`")
    // No commander default: --help would print the URL with its password.
    .option('--redis <url>', 'redis://[:PASSWORD@]HOST:PORT[/DB] (default: env RAUTA_REDIS_URL)')
    .option('--node <name>', "this node's name in the registry, its queue and logs (letters, digits, . _ -)", os.hostname().replace(/[^A-Za-z0-9._-]/g, '-'))
    .option('--prefix <prefix>', 'Redis key prefix shared with `rauta watch` and `rauta status`', DEFAULT_PREFIX)
    .option('--pin-dir <dir>', 'bpffs directory for the program and maps (reused on restart)', DEFAULT_PIN_DIR)
    .option('--iface <name>', 'attach the XDP program to this interface (without it: load and pin only)')
    .option('--xdp-mode <mode>', 'auto (native, falling back to generic with a warning), native or generic', 'auto')
    .option('--state-dir <dir>', 'desired-state snapshots', '.rauta')
    .option('--gateway-mac <mac>', 'destination MAC for backends the neighbour table does not resolve')
    .option('--http <addr:port>', 'serve /metrics, /healthz and /status here (default: none)')
    .option('--heartbeat <seconds>', 'publish status this often; the node is stale after three missed beats', '5')
    .option('--resync <seconds>', 'reconcile to the log head when nothing woke the agent for this long, in case a wake-up was lost (0: never)', '30')
    .option('--drift-interval <seconds>', 'how often to read the maps back and repair differences (0: never)', '30')
    .option('--job-lock <seconds>', 'BullMQ job lock: a job of a killed agent is taken again after about this long', '30')
    .option('--log-level <level>', 'trace, debug, info, warn, error (default: env RAUTA_LOG_LEVEL or info)');
  addCapacityOptions(cmd)
    .addHelpText(
      'after',
      '\nExamples:\n  rauta agent --redis redis://redis:6379 --node edge-1 --iface eth0\n  rauta agent --redis redis://:secret@10.0.0.5:6379 --node edge-2 --pin-dir /sys/fs/bpf/rauta --http 0.0.0.0:9465\n\n' +
        'On start the agent catches up from the log (commits made while it was down), then takes jobs.\n' +
        'A job completes once the agent tried to apply up to its seq; a failed apply is retried by the agent (backoff 1 s to 30 s), not by BullMQ.\n' +
        "The --max-* options size the maps (pinned maps must match) and must equal the watcher's.\n" +
        'SIGTERM/SIGINT finish the current job and exit 0; the program stays attached and the maps pinned.',
    )
    .action(async (opts: Omit<AgentNodeOptions, 'redis'> & { redis?: string }) => {
      process.exitCode = await runAgentNode({ ...opts, redis: redisUrlFrom(opts.redis) });
      exitAfterStop(process.exitCode);
    });
}
