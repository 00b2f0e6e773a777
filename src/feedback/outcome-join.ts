import type { Logger } from 'pino';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import type { EventDecoder } from '../codec/event-decoder.js';
import { PoisonInputError, errorMessage } from '../errors.js';
import { classifyFailure, isRetriable } from '../error-policy.js';
import type {
  ConsumedRecord,
  ConsumerTransport,
  FetchedBatch,
  OutgoingRecord,
  ProducerTransport,
} from '../kafka/transport.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { deadLetterMessage } from '../pipeline/output-records.js';
import type { CanaryGuard } from './canary-guard.js';
import type { FeedbackStore, OutcomeKey } from './feedback-store.js';
import { readOutcome, type Outcome, type OutcomeShape } from './outcome-record.js';
import type { OutcomeScoring } from './outcome-scoring.js';

export interface OutcomeJoinOptions {
  topic: string;
  /** Where malformed outcomes go, with the dead-letter headers of a bad event. */
  deadLetterTopic: string;
  /** Read outcomes from the start of the topic when the feedback group has no offsets. */
  fromBeginning: boolean;
  shape: OutcomeShape;
  decoder: EventDecoder;
  store: FeedbackStore;
  scoring: OutcomeScoring;
  guard: CanaryGuard | undefined;
  /** A plain (non-transactional) producer for the dead letters. */
  producer: ProducerTransport;
  backoff: BackoffOptions;
  /** False once shutdown gave up: retries stop, the batch is left uncommitted. */
  keepRetrying: () => boolean;
  /** A failure no retry fixes (the dead-letter topic refused, a bug): the worker stops. */
  onFatal: (error: unknown) => void;
  metrics: WorkerMetrics;
  logger: Logger;
}

/**
 * Reads the outcome topic in its own consumer group, a fetched batch at a time: decodes each
 * outcome, joins the batch to the stored predictions in one store call, scores what joined,
 * dead-letters what cannot be joined, and only then commits the batch. A store or registry
 * outage is waited out (nothing committed past it); a redelivered batch joins again without
 * counting any event twice (feedback-store.ts).
 */
export class OutcomeJoin {
  private consumer: ConsumerTransport | undefined;

  constructor(private readonly options: OutcomeJoinOptions) {}

  async start(consumer: ConsumerTransport): Promise<void> {
    this.consumer = consumer;
    await consumer.run(
      { topics: [this.options.topic], fromBeginning: this.options.fromBeginning },
      {
        onBatch: (batch) => this.onBatch(batch),
        onAssigned: (partitions) =>
          this.options.logger.debug({ partitions }, 'feedback: outcome partitions assigned'),
        onRevoked: () => Promise.resolve(), // nothing is held between batches
        onFatal: (error) => this.options.onFatal(error),
      },
    );
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }

  private async onBatch(batch: FetchedBatch): Promise<number> {
    try {
      await this.handle(batch);
    } catch (error) {
      if (classifyFailure(error) === 'retriable') return 0; // shutdown gave up: fetched again
      this.options.onFatal(error);
      return 0;
    }
    const last = batch.records.at(-1);
    if (last && this.consumer) {
      // Not awaited: librdkafka answers commits during the poll this handler holds up. A lost
      // commit means a redelivery, which joins without counting twice.
      const offset = (BigInt(last.offset) + 1n).toString();
      this.consumer
        .commit([{ topic: batch.topic, partition: batch.partition, offset }])
        .catch((error: unknown) =>
          this.options.logger.debug({ err: errorMessage(error) }, 'feedback: commit failed'),
        );
    }
    return batch.records.length;
  }

  private async handle(batch: FetchedBatch): Promise<void> {
    const { store, scoring, metrics } = this.options;
    const outcomes: Outcome[] = [];
    const keys: OutcomeKey[] = [];
    const deadLetters: OutgoingRecord[] = [];
    for (const record of batch.records) {
      let outcome: Outcome;
      try {
        outcome = await this.read(record);
      } catch (error) {
        if (!(error instanceof PoisonInputError)) throw error;
        error.at({ topic: batch.topic, partition: batch.partition, offset: record.offset });
        deadLetters.push(this.deadLetter(batch, record, error));
        metrics.deadLetters.inc({ stage: error.stage, reason: error.reason });
        continue;
      }
      outcomes.push(outcome);
      keys.push({ id: outcome.id, mark: `${batch.topic}/${batch.partition}/${record.offset}` });
    }
    const results = await this.retrying(
      'join',
      () => store.join(keys),
      () => metrics.feedbackStoreErrors.inc({ operation: 'join' }),
    );
    let unmatched = 0;
    let duplicates = 0;
    results.forEach((result, index) => {
      if (result === 'unmatched') unmatched++;
      else if (result === 'duplicate') duplicates++;
      else scoring.score(outcomes[index]!.truth, result);
    });
    if (unmatched > 0) scoring.unmatched(unmatched);
    if (duplicates > 0) scoring.duplicate(duplicates);
    this.options.guard?.check();
    if (deadLetters.length > 0) {
      await this.retrying('dead letters', () => this.options.producer.send(deadLetters));
    }
  }

  /** Decodes and reads one outcome; a registry outage is retried, bad bytes are poison. */
  private async read(record: ConsumedRecord): Promise<Outcome> {
    const decoded = await this.retrying('decode', async () =>
      this.options.decoder.decode(record.value),
    );
    return readOutcome(decoded, record.key, this.options.shape);
  }

  private deadLetter(
    batch: FetchedBatch,
    record: ConsumedRecord,
    error: PoisonInputError,
  ): OutgoingRecord {
    const message = deadLetterMessage(
      { ...record, topic: batch.topic, partition: batch.partition },
      error,
    );
    return { topic: this.options.deadLetterTopic, ...message };
  }

  /** Retries a retriable failure with backoff; `onFailure` hears of each failed try. */
  private retrying<T>(
    what: string,
    operation: () => Promise<T>,
    onFailure: () => void = () => {},
  ): Promise<T> {
    return retryWithBackoff(operation, {
      ...this.options.backoff,
      isRetriable,
      shouldContinue: () => this.options.keepRetrying(),
      onRetry: (error, attempt, delayMs) => {
        onFailure();
        if (attempt % 10 === 0) {
          this.options.logger.warn(
            { err: errorMessage(error), delayMs },
            `feedback: ${what} failed; retrying`,
          );
        }
      },
    });
  }
}
