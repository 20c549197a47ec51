// Every Redis connection rauta opens (event log, node registry, BullMQ): the first
// connect is bounded and a failure says what to check; after that, drops reconnect
// with backoff for ever.
import { Redis, type RedisOptions } from 'ioredis';
import { RautaError } from '../errors.js';

/** The URL without credentials, for messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable redis URL)';
  }
}

export interface ConnectRedisOptions {
  /** first connect only */
  timeoutMs: number;
  /** what this connection is for, in error messages */
  purpose: string;
  /** per-use ioredis options (retries per request, resend policy, protocol) */
  options?: RedisOptions;
}

export async function connectRedis(url: string, opts: ConnectRedisOptions): Promise<Redis> {
  let connected = false;
  let lastError: Error | null = null;
  const redis = new Redis(url, {
    ...opts.options,
    lazyConnect: true,
    connectTimeout: opts.timeoutMs,
    retryStrategy: (times) => (connected ? Math.min(100 * times, 2000) : null),
  });
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs + 500);
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
