import type { Logger } from 'pino';
import { redisConnectionOptions } from '../cache/create-prediction-cache.js';
import type { CacheOptions, FeedbackOptions } from '../config/worker-config.js';
import type { FeedbackStore } from './feedback-store.js';
import { InProcessFeedbackStore } from './in-process-feedback-store.js';
import { RedisFeedbackStore } from './redis-feedback-store.js';

/** Redis (the cache's connection) when configured or implied by cache.redisUrl, else memory. */
export function createFeedbackStore(
  feedback: FeedbackOptions,
  cache: CacheOptions,
  model: string,
  logger: Logger,
): FeedbackStore {
  const store = feedback.store ?? (cache.redisUrl ? 'redis' : 'memory');
  if (store === 'memory') {
    logger.info(
      { maxEntries: feedback.maxEntries },
      'feedback: predictions kept in this process (outcomes read by another worker stay unmatched)',
    );
    return new InProcessFeedbackStore(feedback.windowMs, feedback.maxEntries);
  }
  return new RedisFeedbackStore(
    cache.redisUrl!,
    redisConnectionOptions(cache),
    feedback.keyPrefix,
    model,
    feedback.windowMs,
    logger,
  );
}
