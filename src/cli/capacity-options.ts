// --max-routes / --max-listeners / --max-nexthops: the map capacity a node loads
// with and every validation checks against (`validate`, `plan`, `watch`, `run`,
// `agent`, `log rebuild`). The watcher and the agents must agree: a watcher that
// allows more than an agent holds lets through commits that agent cannot apply.
import type { Command } from 'commander';
import { DEFAULT_CAPACITY } from '../routes/capacity.js';

export function addCapacityOptions(cmd: Command): Command {
  return cmd
    .option('--max-routes <n>', `ROUTES capacity: rules per route set (MAGLEV_TABLES gets twice this) (default ${DEFAULT_CAPACITY.routes})`)
    .option('--max-listeners <n>', `LISTENERS capacity: address:port listeners (default ${DEFAULT_CAPACITY.listeners})`)
    .option('--max-nexthops <n>', `NEXTHOPS capacity: distinct backend addresses (default ${DEFAULT_CAPACITY.nexthops})`);
}
