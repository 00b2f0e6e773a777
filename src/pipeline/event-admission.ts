import type { Logger } from 'pino';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import { readSchemaId } from '../codec/avro-framing.js';
import type { CodecSet } from '../codec/codec-set.js';
import { PoisonInputError, WorkerError, errorMessage } from '../errors.js';
import { classifyFailure, isRetriable } from '../error-policy.js';
import { VALUE_FORMAT, type ValueFormat } from '../model/row-input.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { InFlightEvent } from './in-flight-event.js';
import { REQUEST_HEADERS } from '../wire-contract.js';
import type { PartitionLane } from './partition-lane.js';
import type { ServingVersion } from './serving-version.js';

export interface EventAdmissionOptions {
  codecs: CodecSet;
  /** Values bigger than this are dead-lettered undecoded (limits.maxEventBytes). */
  maxEventBytes: number;
  /** Reply topics an event may name (replies.allowedTopics); none when undefined. */
  allowedReplyTopics: RegExp | undefined;
  /** Backoff while the schema registry is unavailable. */
  decodeBackoff: BackoffOptions;
  /** False once shutdown has given up on in-flight work. */
  keepRetrying: () => boolean;
  /** A failure no retry fixes (a bug): the worker stops. */
  onFatal: (error: unknown) => void;
  metrics: WorkerMetrics;
  logger: Logger;
}

/**
 * Admits one event, already routed to its version(s), into their batches, on the main thread,
 * without decoding it: the inference thread decodes and featurizes the whole batch. What is
 * decided here needs no parse: a value over the size limit, a reply topic the config does not
 * allow and bad Avro framing are dead-lettered; an Avro writer schema is resolved once per
 * schema id, and a registry outage is waited out with backoff, so nothing is dead-lettered or
 * committed past it. A JSON event, or an Avro one whose schema is known, joins at once.
 */
export class EventAdmission {
  constructor(private readonly options: EventAdmissionOptions) {}

  admit(event: InFlightEvent, version: ServingVersion, shadow: ServingVersion | undefined): void {
    const refused = this.refusal(event);
    if (refused) {
      this.fail(event, refused, version, shadow);
      return;
    }
    const format = this.options.codecs.formatFor(event.topic);
    if (format === VALUE_FORMAT.json) {
      this.join(event, version, shadow, format, undefined);
      return;
    }
    const schemas = this.options.codecs.writerSchemas!;
    let schemaId: number;
    try {
      schemaId = readSchemaId(event.value);
    } catch (error) {
      this.fail(event, error, version, shadow);
      return;
    }
    if (schemas.known(schemaId) !== undefined) {
      this.join(event, version, shadow, format, schemaId);
      return;
    }
    void this.admitWhenResolved(event, version, shadow, schemaId);
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

  private async admitWhenResolved(
    event: InFlightEvent,
    version: ServingVersion,
    shadow: ServingVersion | undefined,
    schemaId: number,
  ): Promise<void> {
    try {
      await this.resolveWithRetry(event.lane, schemaId);
    } catch (error) {
      this.fail(event, error, version, shadow);
      return;
    }
    this.join(event, version, shadow, VALUE_FORMAT.avro, schemaId);
  }

  /** Adds the event to its version's batch, and to the shadow's when one runs. */
  private join(
    event: InFlightEvent,
    version: ServingVersion,
    shadow: ServingVersion | undefined,
    format: ValueFormat,
    schemaId: number | undefined,
  ): void {
    // Data quality counts each event once: on the version that answers it, not its shadow, and
    // not again when a model fault admits it to another version.
    const countQuality = !event.qualityCounted;
    event.qualityCounted = true;
    version.add({ event, role: 'primary', format, schemaId, countQuality });
    shadow?.add({ event, role: 'shadow', format, schemaId, countQuality: false });
  }

  private fail(
    event: InFlightEvent,
    error: unknown,
    version: ServingVersion,
    shadow: ServingVersion | undefined,
  ): void {
    version.release();
    shadow?.release();
    const failure = classifyFailure(error);
    if (error instanceof WorkerError) {
      error.at({ topic: event.topic, partition: event.partition, offset: event.offset });
    }
    if (error instanceof PoisonInputError) {
      event.lane.deadLetter(event, error);
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

  /** Resolves the writer schema; an unavailable registry is retried with backoff. */
  private resolveWithRetry(lane: PartitionLane, schemaId: number): Promise<string> {
    const schemas = this.options.codecs.writerSchemas!;
    return retryWithBackoff(() => schemas.resolve(schemaId), {
      ...this.options.decodeBackoff,
      isRetriable,
      shouldContinue: () => this.options.keepRetrying() && !lane.revoked,
      signal: lane.revokedSignal,
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
