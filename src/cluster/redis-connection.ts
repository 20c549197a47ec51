// The cluster's own Redis connection (registry, BullMQ queues and workers).
// BullMQ needs maxRetriesPerRequest: null (its blocking commands must wait out
// a reconnect instead of failing). The first connect is bounded and a failure
// says what to check; after that, drops reconnect with backoff for ever, and
// 'ready' fires again on each reconnect (the agent and the watcher catch up then).
import type { Redis } from 'ioredis';
import { RautaError } from '../errors.js';
import { connectRedis, redactRedisUrl } from '../events/redis-connect.js';

export interface ClusterRedisOptions {
  /** first connect only (default 3000 ms) */
  connectTimeoutMs?: number;
  /** what this connection is for, in error messages */
  purpose: string;
}

export function checkRedisUrl(url: string, flag = '--redis'): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RautaError('RAUTA_ERR_USAGE', `${flag} ${url}: not a URL; write redis://[:PASSWORD@]HOST:PORT[/DB] (or rediss:// for TLS)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new RautaError('RAUTA_ERR_USAGE', `${flag} ${redactRedisUrl(url)}: use a redis:// or rediss:// URL`);
  }
  return url;
}

export function connectClusterRedis(url: string, opts: ClusterRedisOptions): Promise<Redis> {
  return connectRedis(url, {
    timeoutMs: opts.connectTimeoutMs ?? 3000,
    purpose: opts.purpose,
    options: { maxRetriesPerRequest: null, enableReadyCheck: true },
  });
}
