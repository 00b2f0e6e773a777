import type { Logger } from 'pino';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import { predictionCacheKey } from '../cache/prediction-cache.js';
import type { CodecSet } from '../codec/codec-set.js';
import type { EventDecoder } from '../codec/event-decoder.js';
import type { CacheOptions } from '../config/worker-config.js';
import { PoisonInputError, WorkerError, errorMessage } from '../errors.js';
import { classifyFailure, isRetriable } from '../error-policy.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { epochMs } from '../observability/epoch-time.js';
import type { EventTracing } from '../observability/event-tracing.js';
import { eventId } from '../feedback/feedback-store.js';
import type { InFlightEvent } from './in-flight-event.js';
import { REQUEST_HEADERS } from '../wire-contract.js';
import type { PartitionLane } from './partition-lane.js';
import type { PendingRow, ServingVersion } from './serving-version.js';

export interface EventPreparationOptions {
  codecs: CodecSet;
  /** Values bigger than this are dead-lettered undecoded (limits.maxEventBytes). */
  maxEventBytes: number;
  /** Reply topics an event may name (replies.allowedTopics); none when undefined. */
  allowedReplyTopics: RegExp | undefined;
  /** Cache keys are computed only when a cache is in use. */
  cache: Pick<CacheOptions, 'keyField' | 'keyPrefix'> | undefined;
  /** feedback.idField: the field whose value joins the event to its outcome. */
  feedbackIdField: string | undefined;
  /** Backoff while the schema registry is unavailable. */
  decodeBackoff: BackoffOptions;
  /** False once shutdown has given up on in-flight work. */
  keepRetrying: () => boolean;
  /** A poison event got its dead-letter outcome: its lane may have output to send. */
  onDeadLetter: (lane: PartitionLane) => void;
  /** A failure no retry fixes (a bug in a decoder): the worker stops. */
  onFatal: (error: unknown) => void;
  /** Spans, when tracing is configured: a "decode" span per event. */
  tracing?: EventTracing | undefined;
  metrics: WorkerMetrics;
  logger: Logger;
}

/**
 * Decode → featurize → join a version's batch, for one event already routed to its version(s).
 * A decoder that answers synchronously (JSON) costs no promise: the row is written into the
 * batch at once. Bad input becomes a dead-letter outcome; a registry outage is waited out with
 * backoff, so nothing is dead-lettered or committed past it.
 */
export class EventPreparation {
  constructor(private readonly options: EventPreparationOptions) {}

  prepare(event: InFlightEvent, version: ServingVersion, shadow: ServingVersion | undefined): void {
    const refused = this.refusal(event);
    if (refused) {
      this.fail(event, refused, version, shadow);
      return;
    }
    let decoded: DecodeResult;
    try {
      decoded = this.options.codecs.decoderFor(event.topic).decode(event.value);
    } catch (error) {
      if (!isRetriable(error)) {
        this.fail(event, error, version, shadow);
        return;
      }
      decoded = Promise.reject(error);
    }
    if (decoded instanceof Promise) {
      void this.prepareLater(event, version, shadow, decoded);
      return;
    }
    this.join(event, decoded, version, shadow);
  }

  /** Refused before decoding: too big, or a reply topic the config does not allow. */
  private refusal(event: InFlightEvent): PoisonInputError | undefined {
    const size = event.value?.length ?? 0;
    const limit = this.options.maxEventBytes;
    if (size > limit) {
      return new PoisonInputError(
        'size',
        `value of ${size} bytes is over limits.maxEventBytes (${limit})`,
      );
    }
    const replyTopic = event.headers[REQUEST_HEADERS.replyTopic];
    if (replyTopic !== undefined && !this.options.allowedReplyTopics?.test(replyTopic.toString())) {
      return new PoisonInputError(
        'reply',
        `reply topic "${replyTopic.toString()}" is not allowed by replies.allowedTopics`,
      );
    }
    return undefined;
  }

  private async prepareLater(
    event: InFlightEvent,
    version: ServingVersion,
    shadow: ServingVersion | undefined,
    firstAttempt: Promise<Record<string, unknown>>,
  ): Promise<void> {
    let record: Record<string, unknown>;
    try {
      record = await this.decodeWithRetry(event, firstAttempt);
    } catch (error) {
      this.fail(event, error, version, shadow);
      return;
    }
    this.join(event, record, version, shadow);
  }

  /** Featurizes `record` into the batch of `version` (and of the shadow, when one runs). */
  private join(
    event: InFlightEvent,
    record: Record<string, unknown>,
    version: ServingVersion,
    shadow: ServingVersion | undefined,
  ): void {
    this.traceDecode(event);
    try {
      this.add(version, event, record, 'primary');
    } catch (error) {
      this.fail(event, error, version, shadow);
      return;
    }
    if (!shadow) return;
    try {
      this.add(shadow, event, record, 'shadow');
    } catch {
      shadow.release();
      event.shadow = 'none'; // the shadow's features reject what the primary accepted
    }
  }

  private fail(
    event: InFlightEvent,
    error: unknown,
    version: ServingVersion,
    shadow: ServingVersion | undefined,
  ): void {
    this.traceDecode(event);
    version.release();
    shadow?.release();
    const failure = classifyFailure(error);
    if (error instanceof WorkerError) {
      error.at({ topic: event.topic, partition: event.partition, offset: event.offset });
    }
    if (error instanceof PoisonInputError) {
      event.outcome = { type: 'dead-letter', error };
      event.shadow = 'none';
      this.options.onDeadLetter(event.lane);
    } else if (failure === 'retriable') {
      // Only when retrying stopped (shutdown or revocation): the event stays uncommitted.
      this.options.logger.warn(
        { err: errorMessage(error), lane: event.lane.key, offset: event.offset },
        'event abandoned',
      );
    } else {
      this.options.onFatal(error);
    }
  }

  private traceDecode(event: InFlightEvent): void {
    if (event.span) {
      this.options.tracing?.child(event.span, 'decode', epochMs(event.acceptedAt));
    }
  }

  private add(
    version: ServingVersion,
    event: InFlightEvent,
    record: Record<string, unknown>,
    role: PendingRow['role'],
  ): void {
    const { featurizer } = version.model;
    const { quality } = version.monitoring;
    const cache = this.options.cache;
    const pending: PendingRow = { event, role };
    const idField = this.options.feedbackIdField;
    if (idField !== undefined && role === 'primary') event.feedbackId = eventId(record[idField]);
    // Data quality counts each event once: on the version that answers it, not its shadow, and
    // not again when a model fault prepares it for another version.
    const countQuality = role === 'primary' && !event.qualityCounted;
    if (countQuality) event.qualityCounted = true;
    version.add(pending, (target, offset) => {
      featurizer.encode(record, target, offset, countQuality ? quality : undefined);
      if (!cache) return;
      const id = cache.keyField !== undefined ? record[cache.keyField] : undefined;
      pending.cacheKey = predictionCacheKey(
        cache.keyPrefix,
        version.identity,
        target.subarray(offset, offset + featurizer.width),
        id != null ? String(id) : undefined,
      );
    });
  }

  /** Awaits the first attempt; a retriable failure is retried with backoff. */
  private async decodeWithRetry(
    event: InFlightEvent,
    firstAttempt: Promise<Record<string, unknown>>,
  ): Promise<Record<string, unknown>> {
    try {
      return await firstAttempt;
    } catch (error) {
      if (!isRetriable(error)) throw error;
      this.options.metrics.decodeRetries.inc();
    }
    const decoder = this.options.codecs.decoderFor(event.topic);
    const lane = event.lane;
    return retryWithBackoff(async () => decoder.decode(event.value), {
      ...this.options.decodeBackoff,
      isRetriable,
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

type DecodeResult = ReturnType<EventDecoder['decode']>;
