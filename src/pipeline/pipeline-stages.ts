import type { Logger } from 'pino';
import type { BackoffOptions } from '../batch/backoff.js';
import type { PredictionCache } from '../cache/prediction-cache.js';
import type { CodecSet } from '../codec/codec-set.js';
import type { WorkerConfig } from '../config/worker-config.js';
import type { FeedbackLoop } from '../feedback/feedback-loop.js';
import type { ProducerTransport, TopicPartitionOffset } from '../kafka/transport.js';
import type { EventTracing } from '../observability/event-tracing.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { ObserverGuard } from '../observability/observer-guard.js';
import { BatchExecution } from './batch-execution.js';
import { EventAdmission } from './event-admission.js';
import type { FlowControl } from './flow-control.js';
import type { InFlightEvent } from './in-flight-event.js';
import { InferenceStage } from './inference-stage.js';
import { ModelFaultCircuit } from './model-fault-circuit.js';
import type { ModelServing } from './model-serving.js';
import { OffsetCommitter } from './offset-committer.js';
import type { OutcomeMetrics } from './outcome-metrics.js';
import { OutputFlusher } from './output-flusher.js';
import { headerSelection } from './output-records.js';
import type { LaneListener, PartitionLane } from './partition-lane.js';
import type { ReplySender } from './reply-sender.js';
import type { TransactionCycle } from './transaction-cycle.js';

/** What the stages are built from: what start-up loaded, opened and read first. */
export interface StageParts {
  config: WorkerConfig;
  serving: ModelServing;
  codecs: CodecSet;
  cache: PredictionCache | undefined;
  /** The producer outputs go through at least once (exactly once: the replies' producer). */
  producer: ProducerTransport;
  replies: ReplySender;
  /** Exactly-once: outputs and offsets commit together in its transactions. */
  transaction?: TransactionCycle;
  /** At-least-once: commits input offsets (the consumer's commit). */
  commitOffsets: (offsets: TopicPartitionOffset[]) => Promise<void>;
  /** The smallest max.message.bytes of the topics outputs go to. */
  maxMessageBytes: number;
  flow: FlowControl;
  outcomes: OutcomeMetrics;
  feedback: FeedbackLoop | undefined;
  backoff: BackoffOptions;
  /** False once shutdown has given up on in-flight work. */
  keepRetrying: () => boolean;
  /** A failure no retry fixes: the worker stops. */
  onFatal: (error: unknown) => void;
  /** After each acknowledgement: the worker's own gauges and health. */
  onProgress: () => void;
  metrics: WorkerMetrics;
  logger: Logger;
  observers: ObserverGuard;
  tracing: EventTracing | undefined;
}

/**
 * The composition root of the event path: every stage of a running worker, built eagerly in the
 * order an event meets them and connected to each other here, directly. An event goes
 * admission → its version's batcher (ModelServing) → batches (decode, featurize, cache, run,
 * settle on its lane) → the lane's listener (this) → flusher → the dispatch's ack → this again:
 * commit, flow control, metrics, feedback. A model fault goes batches → circuit → admission.
 * The worker keeps start, drain and stop.
 */
export class PipelineStages implements LaneListener {
  readonly admission: EventAdmission;
  readonly circuit: ModelFaultCircuit;
  readonly batches: BatchExecution;
  readonly flusher: OutputFlusher;
  /** At-least-once only: commits each lane's acknowledged prefix. */
  readonly committer: OffsetCommitter | undefined;

  constructor(private readonly parts: StageParts) {
    const { config, codecs, backoff, keepRetrying, onFatal, metrics, logger } = parts;
    const { kafka } = config;
    this.flusher = new OutputFlusher(
      parts.producer,
      parts.replies,
      {
        output: kafka.outputTopic,
        deadLetter: kafka.deadLetterTopic,
        shadow: config.model.shadow?.topic,
      },
      {
        maxMessageBytes: parts.maxMessageBytes,
        headers: headerSelection(kafka.predictionHeaders),
      },
      codecs.encoder,
      backoff,
      keepRetrying,
      onFatal,
      metrics,
      logger,
      parts.observers,
      parts.tracing,
      parts.transaction,
    );
    this.committer = parts.transaction
      ? undefined
      : new OffsetCommitter(
          parts.commitOffsets,
          config.delivery.commitIntervalMs,
          metrics,
          logger,
          backoff,
        );
    this.admission = new EventAdmission({
      codecs,
      maxEventBytes: config.limits.maxEventBytes,
      allowedReplyTopics: config.replies.allowedTopics
        ? new RegExp(`^(?:${config.replies.allowedTopics})$`)
        : undefined,
      decodeBackoff: {
        initialMs: config.schemaRegistry?.retryBackoffMs ?? backoff.initialMs,
        maxMs: backoff.maxMs,
      },
      keepRetrying,
      onFatal,
      metrics,
      logger,
    });
    const admission = this.admission;
    const circuit = (this.circuit = new ModelFaultCircuit({
      backoff,
      fallbackFor: (version) => parts.serving.fallbackFor(version),
      admitAgain: (event, version) => admission.admit(event, version, undefined),
      keepRetrying,
      onClosed: () => parts.flow.released(),
      metrics,
      logger,
    }));
    this.batches = new BatchExecution(
      new InferenceStage(backoff, keepRetrying, logger, (model) =>
        parts.serving.replaceable(model),
      ),
      parts.cache,
      {
        onSucceeded: () => circuit.succeeded(),
        onModelFault: (version, rows, error) => circuit.faulted(version, rows, error),
        onFatal,
      },
      metrics,
      logger,
      parts.observers,
      codecs.writerSchemas,
      parts.tracing,
    );
    parts.serving.connect(this.batches);
  }

  /** A lane's head may be ready: the flusher sends it (one send per lane at a time). */
  headReady(lane: PartitionLane): void {
    this.flusher.schedule(lane);
  }

  /**
   * A lane's dispatch was acknowledged (or, exactly once, committed): its offset becomes
   * committable, room is freed, the outcomes are counted and kept for feedback.
   */
  acknowledged(lane: PartitionLane, events: InFlightEvent[]): void {
    const { observers, outcomes, feedback } = this.parts;
    observers.run('outcome metrics', () => outcomes.acknowledged(events));
    if (feedback) observers.run('feedback', () => feedback.recorder.acknowledged(events));
    this.committer?.markDirty(lane);
    this.parts.onProgress();
    this.parts.flow.released();
  }

  /** Waits for the sends under way, then commits what they acknowledged. */
  async flushAndCommit(): Promise<void> {
    await this.flusher.idle();
    await this.committer?.flush();
    await this.parts.transaction?.close();
  }
}
