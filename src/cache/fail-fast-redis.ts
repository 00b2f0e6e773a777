import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis client that fails fast while Redis is down or slow (no offline queue, one try per
 * command, a command timeout) and reconnects for ever in the background, telling `onError` of
 * each connection error. The prediction cache and the feedback store both use it.
 */
export function failFastRedis(
  url: string,
  /** Credentials and TLS beside the URL (they win over the URL's). */
  connection: RedisOptions,
  commandTimeoutMs: number,
  onError: (error: Error) => void,
): Redis {
  const redis = new Redis(url, {
    ...connection,
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 0,
    lazyConnect: false,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000), // reconnect forever, in the background
  });
  redis.on('error', onError);
  return redis;
}
