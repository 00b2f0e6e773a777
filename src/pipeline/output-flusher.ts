import type { Message, Producer, TopicMessages } from 'kafkajs';
import type { Logger } from 'pino';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import type { PredictionEncoder } from '../codec/event-decoder.js';
import { PoisonInputError, errorMessage } from '../errors.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { InFlightEvent } from './in-flight-event.js';
import { deadLetterMessage, predictionHeaders, predictionRecord } from './output-records.js';
import type { PartitionLane } from './partition-lane.js';

export interface OutputTopics {
  output: string;
  deadLetter: string;
  /** Where a shadow version's predictions go, when one runs. */
  shadow?: string;
}

/** Outputs sent in one produce request per lane, at most. */
const MAX_MESSAGES_PER_SEND = 1_000;

/**
 * Sends each lane's completed head of events, predictions and dead letters together, with
 * acks=all, one request per lane at a time so that outputs keep input order. A failed send is
 * retried with backoff until it is acknowledged, the lane is revoked, or the worker gives up.
 */
export class OutputFlusher {
  private readonly active = new Set<Promise<void>>();

  constructor(
    private readonly producer: Producer,
    private readonly topics: OutputTopics,
    private readonly encoder: PredictionEncoder<unknown>,
    private readonly backoff: BackoffOptions,
    private readonly keepRetrying: () => boolean,
    private readonly onAcknowledged: (lane: PartitionLane, events: InFlightEvent[]) => void,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {}

  /** Starts sending the lane's ready head unless a send for this lane is already under way. */
  schedule(lane: PartitionLane): void {
    if (lane.flushing || lane.revoked) return;
    lane.flushing = true;
    const run = this.drain(lane).finally(() => {
      lane.flushing = false;
      this.active.delete(run);
    });
    this.active.add(run);
  }

  /** Resolves once no send is under way. */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
  }

  private async drain(lane: PartitionLane): Promise<void> {
    for (;;) {
      if (lane.revoked) return;
      const events = lane.takeReady(MAX_MESSAGES_PER_SEND);
      if (events.length === 0) return;
      try {
        await retryWithBackoff(() => this.send(events), {
          ...this.backoff,
          isRetriable: () => true,
          shouldContinue: () => this.keepRetrying() && !lane.revoked,
          onRetry: (error, attempt, delayMs) => {
            this.metrics.produceRetries.inc();
            this.logger.warn(
              { err: errorMessage(error), lane: lane.key, attempt, delayMs },
              'produce failed; retrying',
            );
          },
        });
      } catch (error) {
        this.logger.error(
          { err: errorMessage(error), lane: lane.key },
          'produce abandoned; offsets stay uncommitted',
        );
        return;
      }
      lane.acknowledged(events);
      this.onAcknowledged(lane, events);
    }
  }

  private async send(events: InFlightEvent[]): Promise<void> {
    const predictions: Message[] = [];
    const deadLetters: Message[] = [];
    const shadows: Message[] = [];
    for (const event of events) {
      if (event.shadow && event.shadow !== 'none') {
        const { prediction, model } = event.shadow;
        const record = predictionRecord(event, prediction, model);
        shadows.push({
          key: event.key,
          value: await this.encoder.encode(record),
          headers: predictionHeaders(event, model),
        });
      }
      const outcome = event.outcome!;
      if (outcome.type === 'prediction') {
        const record = predictionRecord(event, outcome.prediction, outcome.model);
        try {
          const value = await this.encoder.encode(record);
          predictions.push({
            key: event.key,
            value,
            headers: predictionHeaders(event, outcome.model),
          });
          continue;
        } catch (error) {
          if (isRetriable(error)) throw error;
          event.outcome = {
            type: 'dead-letter',
            error: new PoisonInputError(
              'encode',
              `prediction does not fit the output schema: ${errorMessage(error)}`,
            ),
          };
        }
      }
      deadLetters.push(
        deadLetterMessage(event, (event.outcome as { error: PoisonInputError }).error),
      );
    }
    const topicMessages: TopicMessages[] = [];
    if (predictions.length > 0)
      topicMessages.push({ topic: this.topics.output, messages: predictions });
    if (deadLetters.length > 0)
      topicMessages.push({ topic: this.topics.deadLetter, messages: deadLetters });
    if (shadows.length > 0 && this.topics.shadow)
      topicMessages.push({ topic: this.topics.shadow, messages: shadows });
    await this.producer.sendBatch({ acks: -1, topicMessages });
  }
}

/** Encoding fails for good only when the record does not fit the schema (avsc's validation). */
function isRetriable(error: unknown): boolean {
  return !(error instanceof Error && error.name === 'ConfluentSchemaRegistryValidationError');
}
