import type { Logger } from 'pino';
import type { RedisOptions } from 'ioredis';
import { readSecret } from '../config/secrets.js';
import { tlsConnectionOptions } from '../config/tls-options.js';
import type { CacheOptions } from '../config/worker-config.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { InProcessLruCache } from './in-process-lru-cache.js';
import type { PredictionCache } from './prediction-cache.js';
import { RedisPredictionCache } from './redis-prediction-cache.js';

/** Whether the config makes a cache (createPredictionCache returns one). */
export function cacheInUse(options: CacheOptions): boolean {
  return options.enabled && (options.redisUrl !== undefined || options.maxEntries > 0);
}

/**
 * Redis when a URL is configured, else the in-process LRU when it has room (cache.maxEntries);
 * none when the cache is disabled or neither is configured.
 */
export function createPredictionCache(
  options: CacheOptions,
  metrics: WorkerMetrics,
  logger: Logger,
): PredictionCache | undefined {
  if (!cacheInUse(options)) return undefined;
  if (options.redisUrl) {
    return new RedisPredictionCache(
      options.redisUrl,
      redisConnectionOptions(options),
      options.ttlSeconds,
      options.commandTimeoutMs,
      metrics,
      logger,
    );
  }
  return new InProcessLruCache(options.maxEntries, options.ttlSeconds * 1000);
}

/** User, password and TLS from their own keys, so that no secret must sit in the URL. */
export function redisConnectionOptions(options: CacheOptions): RedisOptions {
  const password = readSecret(
    options.redisPassword,
    options.redisPasswordFile,
    'cache.redisPasswordFile',
  );
  return {
    ...(options.redisUsername ? { username: options.redisUsername } : {}),
    ...(password ? { password } : {}),
    ...(options.redisTls ? { tls: tlsConnectionOptions(options.redisTls, 'cache.redisTls') } : {}),
  };
}
