// The cluster's own Redis connection (registry, BullMQ queues and workers).
// BullMQ needs maxRetriesPerRequest: null (its blocking commands must wait out
// a reconnect instead of failing). The first connect is bounded and a failure
// says what to check; after that, drops reconnect with backoff for ever, and
// 'ready' fires again on each reconnect (the agent and the watcher catch up then).
import { Redis, type RedisOptions } from 'ioredis';
import { RautaError } from '../errors.js';
import { redactRedisUrl } from '../events/redis-log.js';

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

export async function connectClusterRedis(url: string, opts: ClusterRedisOptions): Promise<Redis> {
  const timeoutMs = opts.connectTimeoutMs ?? 3000;
  let connected = false;
  let lastError: Error | null = null;
  const options: RedisOptions = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => (connected ? Math.min(100 * times, 2000) : null),
  };
  const redis = new Redis(url, options);
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs + 500);
      }),
    ]).finally(() => clearTimeout(timer));
    connected = true;
    return redis;
  } catch (err) {
    redis.disconnect();
    const reason = (lastError as Error | null)?.message ?? (err as Error).message;
    const hint = /WRONGPASS|NOAUTH|AUTH/i.test(reason)
      ? 'check the password in the URL (redis://:PASSWORD@host:port)'
      : 'check that Redis is running and reachable at that address';
    throw new RautaError('RAUTA_ERR_LOG_BACKEND', `redis ${redactRedisUrl(url)} (${opts.purpose}): cannot connect: ${reason}; ${hint}`, { cause: err });
  }
}
