import type { Logger } from 'pino';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import { predictionCacheKey } from '../cache/prediction-cache.js';
import type { CodecSet } from '../codec/codec-set.js';
import type { CacheOptions } from '../config/worker-config.js';
import { PoisonInputError, RetriableError, errorMessage } from '../errors.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { InFlightEvent } from './in-flight-event.js';
import type { PartitionLane } from './partition-lane.js';
import type { PendingRow, ServingVersion } from './serving-version.js';

export interface EventPreparationOptions {
  codecs: CodecSet;
  /** Cache keys are computed only when a cache is in use. */
  cache: Pick<CacheOptions, 'keyField' | 'keyPrefix'> | undefined;
  /** Backoff while the schema registry is unavailable. */
  decodeBackoff: BackoffOptions;
  /** False once shutdown has given up on in-flight work. */
  keepRetrying: () => boolean;
  /** A poison event got its dead-letter outcome: its lane may have output to send. */
  onDeadLetter: (lane: PartitionLane) => void;
  metrics: WorkerMetrics;
  logger: Logger;
}

/**
 * Decode → featurize → join a version's batch, for one event already routed to its version(s).
 * Bad input becomes a dead-letter outcome; a registry outage is waited out with backoff, so
 * nothing is dead-lettered or committed past it.
 */
export class EventPreparation {
  constructor(private readonly options: EventPreparationOptions) {}

  async prepare(
    lane: PartitionLane,
    event: InFlightEvent,
    version: ServingVersion,
    shadow: ServingVersion | undefined,
  ): Promise<void> {
    let record: Record<string, unknown>;
    try {
      record = await this.decode(lane, event);
      version.add(this.pendingRow(version, event, record, 'primary'));
    } catch (error) {
      version.release();
      shadow?.release();
      if (error instanceof PoisonInputError) {
        event.outcome = { type: 'dead-letter', error };
        event.shadow = 'none';
        this.options.onDeadLetter(lane);
      } else {
        // Only when retrying stopped (shutdown or revocation): the event stays uncommitted.
        this.options.logger.warn(
          { err: errorMessage(error), lane: lane.key, offset: event.offset },
          'event abandoned',
        );
      }
      return;
    }
    if (!shadow) return;
    try {
      shadow.add(this.pendingRow(shadow, event, record, 'shadow'));
    } catch {
      shadow.release();
      event.shadow = 'none'; // the shadow's features reject what the primary accepted
    }
  }

  private pendingRow(
    version: ServingVersion,
    event: InFlightEvent,
    record: Record<string, unknown>,
    role: PendingRow['role'],
  ): PendingRow {
    const row = version.model.featurizer.encode(record);
    const cache = this.options.cache;
    if (!cache) return { event, row, role };
    const id = cache.keyField !== undefined ? record[cache.keyField] : undefined;
    const eventId = id != null ? String(id) : undefined;
    return {
      event,
      row,
      role,
      cacheKey: predictionCacheKey(cache.keyPrefix, version.identity, row, eventId),
    };
  }

  private decode(lane: PartitionLane, event: InFlightEvent): Promise<Record<string, unknown>> {
    const decoder = this.options.codecs.decoderFor(event.topic);
    return retryWithBackoff(async () => decoder.decode(event.value), {
      ...this.options.decodeBackoff,
      isRetriable: (error) => error instanceof RetriableError,
      shouldContinue: () => this.options.keepRetrying() && !lane.revoked,
      onRetry: (error, attempt, delayMs) => {
        this.options.metrics.decodeRetries.inc();
        if (attempt % 10 === 0) {
          this.options.logger.warn(
            { err: errorMessage(error), lane: lane.key, delayMs },
            'decode retrying',
          );
        }
      },
    });
  }
}
