// Names in Redis for the multi-node mode, all under one prefix (default "rauta",
// the event log's too) so several clusters (or tests) share one Redis:
//   ${prefix}:nodes          hash node → the node's last published status (JSON)
//   ${prefix}:alive:${node}  heartbeat, expires after the TTL: no key = stale node
//   ${prefix}:bull:reconcile.${node}:*   BullMQ queue of that node's wake-ups
import { RautaError } from '../errors.js';

export const DEFAULT_PREFIX = 'rauta';

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Node names go into key, queue and job names: letters, digits, '.', '_', '-' (no ':'). */
export function checkNodeName(node: string, flag = '--node'): string {
  if (!NODE_NAME.test(node)) {
    throw new RautaError(
      'RAUTA_ERR_USAGE',
      `${flag} "${node}": use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit (it names Redis keys and a queue)`,
    );
  }
  return node;
}

export function checkPrefix(prefix: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9:._-]{0,99}$/.test(prefix)) {
    throw new RautaError('RAUTA_ERR_USAGE', `--prefix "${prefix}": use letters, digits, ':', '.', '_' or '-' (e.g. rauta or rauta-staging)`);
  }
  return prefix;
}

export function clusterKeys(prefix: string) {
  return {
    nodes: `${prefix}:nodes`,
    alive: (node: string) => `${prefix}:alive:${node}`,
    /** the event log's head (written by src/events/redis-log.ts) */
    head: `${prefix}:head`,
    /** BullMQ's key prefix */
    bull: `${prefix}:bull`,
  };
}

/** One BullMQ queue per node: a node's worker takes only its own wake-ups. */
export function reconcileQueueName(node: string): string {
  return `reconcile.${node}`;
}

/** Job id from node and seq: a second enqueue of the same wake-up is a no-op while the first is kept. */
export function reconcileJobId(node: string, seq: number): string {
  return `${node}.seq-${seq}`;
}
