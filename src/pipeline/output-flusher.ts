import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import type { PredictionEncoder } from '../codec/event-decoder.js';
import {
  OutputTooLargeError,
  PoisonInputError,
  ProduceFailedError,
  errorMessage,
} from '../errors.js';
import { classifyFailure, isRetriable } from '../error-policy.js';
import type { OutgoingRecord, ProducerTransport } from '../kafka/transport.js';
import type { EventTracing } from '../observability/event-tracing.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { ObserverGuard } from '../observability/observer-guard.js';
import type { InFlightEvent } from './in-flight-event.js';
import type { Prediction } from '../model/postprocessor.js';
import {
  deadLetterMessage,
  predictionHeaders,
  predictionRecord,
  replyRecord,
  type HeaderSelection,
  type ModelIdentity,
} from './output-records.js';
import type { PredictionRecord } from '../wire-contract.js';
import type { LaneDispatch, PartitionLane } from './partition-lane.js';
import type { ReplySender } from './reply-sender.js';
import type { TransactionCycle } from './transaction-cycle.js';

export interface OutputTopics {
  output: string;
  deadLetter: string;
  /** Where a shadow version's predictions go, when one runs. */
  shadow?: string;
}

/** Outputs sent in one produce request per lane, at most. */
const MAX_MESSAGES_PER_SEND = 1_000;
/** Bytes of an output record besides its value, key and copied headers (an estimate). */
const RECORD_OVERHEAD_BYTES = 512;
/** The most of its value a dead letter keeps when the whole record is refused. */
const MAX_KEPT_VALUE_BYTES = 64 * 1024;

export interface OutputOptions {
  /**
   * The smallest max.message.bytes of the output topics (read at start-up). One send to a lane
   * carries at most half of it, since a client that sends one batch per partition (kafkajs)
   * would otherwise put a thousand large dead letters into one batch the broker refuses.
   */
  maxMessageBytes: number;
  /** The provenance headers predictions carry (kafka.predictionHeaders). */
  headers: HeaderSelection;
}

/**
 * Sends each lane's completed head of events, predictions and dead letters together, with
 * acks=all, one request per lane at a time so that outputs keep input order. A failed send is
 * retried with backoff until it is acknowledged, the lane is revoked, or the worker gives up.
 */
export class OutputFlusher {
  private readonly active = new Set<Promise<void>>();
  private readonly maxBytesPerSend: number;
  private readonly keptValueBytes: number;
  private readonly headers: HeaderSelection;
  /**
   * Exactly-once: lanes whose next sends go one event at a time, after a send the broker refused
   * for a record's sake aborted the transaction (the refused event is found alone, and trimmed).
   */
  private readonly probing = new Map<PartitionLane, number>();

  constructor(
    private readonly producer: ProducerTransport,
    /** Sends the replies of acknowledged outputs (at least once; exactly once they go at commit). */
    private readonly replies: ReplySender,
    private readonly topics: OutputTopics,
    options: OutputOptions,
    private readonly encoder: PredictionEncoder<PredictionRecord>,
    private readonly backoff: BackoffOptions,
    private readonly keepRetrying: () => boolean,
    /** A produce failure no retry fixes (authorization): the worker stops. */
    private readonly onFatal: (error: unknown) => void,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
    /** Runs the produce spans: a failing tracer never fails a send. */
    private readonly observers: ObserverGuard,
    private readonly tracing?: EventTracing,
    /** Exactly-once: sends go into its transactions; acknowledgements come at their commits. */
    private readonly transaction?: TransactionCycle,
  ) {
    this.maxBytesPerSend = Math.floor(options.maxMessageBytes / 2);
    // A quarter of the limit leaves room for the headers a dead letter carries.
    this.keptValueBytes = Math.min(MAX_KEPT_VALUE_BYTES, Math.floor(options.maxMessageBytes / 4));
    this.headers = options.headers;
  }

  /**
   * Starts sending the lane's ready head unless a send for this lane is already under way.
   * Failures are classified inside; one that still escapes is a bug, and the worker stops.
   */
  schedule(lane: PartitionLane): void {
    if (!lane.beginFlush()) return;
    const run = this.drain(lane)
      .catch((error: unknown) => this.onFatal(error))
      .finally(() => {
        this.active.delete(run);
        if (lane.endFlush()) this.schedule(lane);
      });
    this.active.add(run);
  }

  /** Resolves once no send is under way. */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
  }

  private async drain(lane: PartitionLane): Promise<void> {
    if (this.transaction) return this.drainInTransaction(lane, this.transaction);
    for (;;) {
      const dispatch = lane.takeReady(MAX_MESSAGES_PER_SEND, this.maxBytesPerSend, outputBytes);
      if (!dispatch) return;
      const sentAt = Date.now();
      if (!(await this.deliver(dispatch, dispatch.events))) {
        dispatch.gaveUp();
        return;
      }
      const { events } = dispatch;
      if (this.tracing) this.observers.run('tracing', () => this.traceProduce(events, sentAt));
      dispatch.ack();
    }
  }

  /**
   * Exactly-once: each send joins the open transaction; nothing is retried here. A failed send
   * gives its events back to the lane and aborts the transaction, whose end sends the lane's head
   * again (TransactionCycle's onRewound). A send refused for a record's sake makes the lane send
   * one event at a time until the refused one is found alone and gets its trimmed dead letter.
   */
  private async drainInTransaction(lane: PartitionLane, transaction: TransactionCycle) {
    for (;;) {
      if (lane.revoked) {
        this.probing.delete(lane);
        return;
      }
      if (!(await transaction.enter())) return; // stopping: the rest is redelivered
      try {
        if (!(await this.writeHead(lane, transaction))) return;
      } finally {
        transaction.leave();
      }
    }
  }

  /**
   * Writes the lane's ready head into the held transaction; false when nothing is ready. After a
   * failed write the next enter() waits for the abort, which puts the lane's head back.
   */
  private async writeHead(lane: PartitionLane, transaction: TransactionCycle): Promise<boolean> {
    const probing = this.probing.get(lane) ?? 0;
    const limit = probing > 0 ? 1 : MAX_MESSAGES_PER_SEND;
    const dispatch = lane.takeReady(limit, this.maxBytesPerSend, outputBytes);
    if (!dispatch) return false;
    const { events } = dispatch;
    const sentAt = Date.now();
    let outputs: Awaited<ReturnType<OutputFlusher['outputs']>>;
    try {
      outputs = await this.outputs(dispatch, events);
    } catch (error) {
      dispatch.unsent();
      throw error;
    }
    const sent = await transaction.write(dispatch, outputs.records, outputs.replies);
    if (sent.written) {
      if (probing > 1) this.probing.set(lane, probing - 1);
      else this.probing.delete(lane);
      if (this.tracing) this.observers.run('tracing', () => this.traceProduce(events, sentAt));
      return true;
    }
    const { error } = sent;
    this.metrics.produceErrors.inc({ reason: produceFailureReason(error) });
    if (classifyFailure(error) !== 'poison') return true;
    if (events.length > 1) {
      this.probing.set(lane, events.length + MAX_MESSAGES_PER_SEND);
      return true;
    }
    const event = events[0]!;
    if (isTrimmed(event)) {
      this.onFatal(error); // even the trimmed dead letter is refused: a DLQ misconfigured
      return false;
    }
    this.trim(dispatch, event, error);
    return true;
  }

  /**
   * Sends `events`' outputs, retrying retriable failures with backoff. A send the broker refuses
   * for a record's sake (too large, invalid) is not retried as is: it is split in halves, and an
   * event whose output alone is refused gets a trimmed dead letter instead. A fatal failure
   * (authorization) stops the worker. Resolves false when sending was given up.
   */
  private async deliver(dispatch: LaneDispatch, events: InFlightEvent[]): Promise<boolean> {
    const { lane } = dispatch;
    try {
      const replies = await retryWithBackoff(() => this.send(dispatch, events), {
        ...this.backoff,
        isRetriable,
        shouldContinue: () => this.keepRetrying() && !lane.revoked,
        signal: lane.revokedSignal,
        onRetry: (error, attempt, delayMs) => {
          this.metrics.produceRetries.inc();
          this.metrics.produceErrors.inc({ reason: produceFailureReason(error) });
          this.logger.warn(
            { err: errorMessage(error), lane: lane.key, attempt, delayMs },
            'produce failed; retrying',
          );
        },
      });
      await this.replies.send(lane, replies);
      return true;
    } catch (error) {
      const failure = classifyFailure(error);
      this.metrics.produceErrors.inc({ reason: produceFailureReason(error) });
      if (failure === 'poison' && !events.every(isTrimmed)) {
        if (events.length > 1) {
          const half = Math.ceil(events.length / 2);
          return (
            (await this.deliver(dispatch, events.slice(0, half))) &&
            this.deliver(dispatch, events.slice(half))
          );
        }
        this.trim(dispatch, events[0]!, error);
        return this.deliver(dispatch, events);
      }
      if (failure === 'fatal') {
        this.onFatal(error);
        return false;
      }
      this.logger.error(
        { err: errorMessage(error), lane: lane.key },
        'produce abandoned; offsets stay uncommitted',
      );
      return false;
    }
  }

  /** An event whose output alone the broker refused: it is sent again as a trimmed dead letter. */
  private trim(dispatch: LaneDispatch, event: InFlightEvent, cause: unknown): void {
    this.logger.warn(
      { err: errorMessage(cause), lane: dispatch.lane.key, offset: event.offset },
      'output refused by the broker; dead-lettering it trimmed',
    );
    dispatch.deadLetter(event, this.refusedError(event, cause));
  }

  /** The dead letter of an event whose output the broker refused: trimmed, size and sha256. */
  private refusedError(event: InFlightEvent, cause: unknown): OutputTooLargeError {
    const value = event.value ?? Buffer.alloc(0);
    const kept = Math.min(value.length, this.keptValueBytes);
    const reason = cause instanceof ProduceFailedError && cause.reason === 'invalid-record';
    return new OutputTooLargeError(
      value.length,
      createHash('sha256').update(value).digest('hex'),
      kept,
      `its output was refused by the broker (${errorMessage(cause)}); the dead letter keeps ` +
        `the first ${kept} bytes of the ${value.length}-byte value`,
      reason ? 'invalid-record' : 'too-large',
    );
  }

  /** Each event's "produce" span, and the end of its own: its outputs are acknowledged. */
  private traceProduce(events: InFlightEvent[], sentAt: number): void {
    for (const event of events) {
      if (!event.span) continue;
      this.tracing!.child(event.span, 'produce', sentAt, {
        'messaging.destination.name':
          event.outcome?.type === 'dead-letter' ? this.topics.deadLetter : this.topics.output,
      });
      event.span.end();
    }
  }

  /** Sends the events' outputs; resolves with the replies to send once they are acknowledged. */
  private async send(dispatch: LaneDispatch, events: InFlightEvent[]): Promise<OutgoingRecord[]> {
    const { records, replies } = await this.outputs(dispatch, events);
    await this.producer.send(records);
    return replies;
  }

  /**
   * The events' output records (predictions, shadow predictions, dead letters) and replies; a
   * prediction the output schema rejects becomes the event's dead letter.
   */
  private async outputs(
    dispatch: LaneDispatch,
    events: InFlightEvent[],
  ): Promise<{ records: OutgoingRecord[]; replies: OutgoingRecord[] }> {
    const records: OutgoingRecord[] = [];
    const replies: OutgoingRecord[] = [];
    const predictedAt = Date.now();
    for (const event of events) {
      let outcome = event.outcome!;
      if (outcome.type === 'prediction') {
        const { prediction, model } = outcome;
        const record = this.outputRecord(this.topics.output, event, prediction, model, predictedAt);
        const message = record instanceof Promise ? await record : record;
        if (message instanceof PoisonInputError) {
          dispatch.deadLetter(event, message);
          outcome = event.outcome!;
        } else {
          records.push(message);
          const reply = replyRecord(event, message);
          if (reply) replies.push(reply);
        }
      }
      if (outcome.type === 'dead-letter') {
        records.push({ topic: this.topics.deadLetter, ...deadLetterMessage(event, outcome.error) });
        continue;
      }
      // A shadow answer goes out only beside a primary one: not for input the primary rejects.
      const { shadow } = event;
      if (shadow && shadow !== 'none' && this.topics.shadow) {
        const { prediction, model } = shadow;
        const record = this.outputRecord(this.topics.shadow, event, prediction, model, predictedAt);
        const message = record instanceof Promise ? await record : record;
        if (!(message instanceof PoisonInputError)) records.push(message);
      }
    }
    return { records, replies };
  }

  /**
   * The prediction's output record, synchronous when the encoder is (JSON). A record the output
   * schema rejects is poison (stage encode).
   */
  private outputRecord(
    topic: string,
    event: InFlightEvent,
    prediction: Prediction,
    model: ModelIdentity,
    predictedAt: number,
  ): OutgoingRecord | PoisonInputError | Promise<OutgoingRecord | PoisonInputError> {
    const toRecord = (value: Buffer): OutgoingRecord => ({
      topic,
      key: event.key,
      value,
      headers: predictionHeaders(
        event,
        model,
        this.headers,
        event.span && this.tracing?.traceparentOf(event.span),
      ),
    });
    try {
      const value = this.encoder.encode(predictionRecord(event, prediction, model, predictedAt));
      return value instanceof Promise
        ? value.then(toRecord, (error: unknown) => encodeFailure(error))
        : toRecord(value);
    } catch (error) {
      return encodeFailure(error);
    }
  }
}

/** About how many bytes an event's output records take: a dead letter carries its input. */
function outputBytes(event: InFlightEvent): number {
  let bytes = RECORD_OVERHEAD_BYTES + (event.key?.length ?? 0);
  if (event.outcome?.type === 'dead-letter') {
    bytes += event.value?.length ?? 0;
    for (const name in event.headers) bytes += name.length + event.headers[name]!.length;
  }
  return event.shadow && event.shadow !== 'none' ? bytes * 2 : bytes;
}

function produceFailureReason(error: unknown): string {
  return error instanceof ProduceFailedError ? error.reason : 'other';
}

function isTrimmed(event: InFlightEvent): boolean {
  return (
    event.outcome?.type === 'dead-letter' && event.outcome.error instanceof OutputTooLargeError
  );
}

/** An output schema violation is poison; anything else (the registry is down) is retried. */
function encodeFailure(error: unknown): PoisonInputError {
  if (!isSchemaViolation(error)) throw error;
  return new PoisonInputError(
    'encode',
    `prediction does not fit the output schema: ${errorMessage(error)}`,
  );
}

function isSchemaViolation(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConfluentSchemaRegistryValidationError';
}
