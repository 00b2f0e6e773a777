import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { Prediction } from '../model/postprocessor.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { throttledWarning } from '../observability/throttled-warning.js';
import { failFastRedis } from './fail-fast-redis.js';
import type { PredictionCache } from './prediction-cache.js';

/**
 * Predictions in Redis, shared by every worker of the group. Fail open: with no offline queue, a
 * short command timeout and background reconnects, Redis being down or slow means misses.
 */
export class RedisPredictionCache implements PredictionCache {
  private readonly redis: Redis;
  private readonly warning: ReturnType<typeof throttledWarning>;

  constructor(
    url: string,
    /** Credentials and TLS beside the URL (they win over the URL's). */
    connection: RedisOptions,
    private readonly ttlSeconds: number,
    commandTimeoutMs: number,
    private readonly metrics: WorkerMetrics,
    logger: Logger,
  ) {
    this.warning = throttledWarning(logger);
    this.redis = failFastRedis(url, connection, commandTimeoutMs, (error) =>
      this.warn('redis connection error', error),
    );
  }

  async getMany(keys: string[]): Promise<(Prediction | undefined)[]> {
    if (keys.length === 0) return [];
    try {
      const values = await this.redis.mget(keys);
      return values.map((value) =>
        value === null ? undefined : (JSON.parse(value) as Prediction),
      );
    } catch (error) {
      this.metrics.cacheErrors.inc({ operation: 'get' });
      this.warn('cache lookup failed; treating the batch as misses', error);
      return keys.map(() => undefined);
    }
  }

  setMany(entries: [string, Prediction][]): void {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [key, prediction] of entries)
      pipeline.set(key, JSON.stringify(prediction), 'EX', this.ttlSeconds);
    pipeline.exec().then(
      (results) => {
        if (results?.some(([error]) => error)) this.metrics.cacheErrors.inc({ operation: 'set' });
      },
      (error: unknown) => {
        this.metrics.cacheErrors.inc({ operation: 'set' });
        this.warn('cache store failed', error);
      },
    );
  }

  /**
   * With no offline queue, a command sent before the connection is up fails at once: wait for it
   * (bounded) so that the first batches after start-up are not all misses.
   */
  async ready(timeoutMs: number): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      this.redis.once('ready', done);
      const redis = this.redis;
      function done(): void {
        clearTimeout(timer);
        redis.off('ready', done);
        resolve();
      }
    });
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private warn(message: string, error: unknown): void {
    this.warning({ err: errorMessage(error) }, message);
  }
}
