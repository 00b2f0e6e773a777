import type { Logger } from 'pino';
import { cacheInUse, createPredictionCache } from '../cache/create-prediction-cache.js';
import { readAvroSchema } from '../codec/avro-codec.js';
import type { RowPreparationOptions } from '../model/row-preparation.js';
import type { PredictionCache } from '../cache/prediction-cache.js';
import { createCodecs, type CodecSet } from '../codec/codec-set.js';
import type { WorkerConfig } from '../config/worker-config.js';
import { ConfigError, errorMessage } from '../errors.js';
import { createTransport } from '../kafka/create-transport.js';
import { FeedbackLoop, feedbackGroupId } from '../feedback/feedback-loop.js';
import { GroupLagProbe } from '../kafka/group-lag-probe.js';
import type {
  ClusterAdmin,
  ConsumedRecord,
  ConsumerTransport,
  FetchedBatch,
  KafkaTransport,
  ProducerTransport,
  TopicPartition,
} from '../kafka/transport.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { EventTracing } from '../observability/event-tracing.js';
import { ObserverGuard } from '../observability/observer-guard.js';
import { PipelineHealth } from '../observability/pipeline-health.js';
import type { EventAdmission } from './event-admission.js';
import { FlowControl } from './flow-control.js';
import type { InFlightEvent } from './in-flight-event.js';
import { ModelServing } from './model-serving.js';
import { OutcomeMetrics } from './outcome-metrics.js';
import { PartitionLane, laneKey, type LaneListener } from './partition-lane.js';
import { PipelineStages } from './pipeline-stages.js';
import { ReplySender } from './reply-sender.js';
import { TransactionCycle, transactionalIdFor } from './transaction-cycle.js';

/** Resolves true when `work` settles first, false when `deadline` aborts first. */
async function beforeDeadline(work: Promise<unknown> | undefined, deadline: AbortSignal) {
  if (deadline.aborted) return false;
  let onAbort!: () => void;
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    deadline.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([Promise.resolve(work).then(() => true), aborted]);
  } finally {
    deadline.removeEventListener('abort', onAbort);
  }
}

/** What the inference threads need to decode and featurize a batch, from the config. */
function rowPreparationOptions(config: WorkerConfig): RowPreparationOptions {
  const { readerSchema } = config.codec;
  return {
    readerSchema: readerSchema ? readAvroSchema(readerSchema) : undefined,
    feedbackIdField: config.feedback?.idField,
    cacheKey: cacheInUse(config.cache)
      ? { prefix: config.cache.keyPrefix, idField: config.cache.keyField }
      : undefined,
  };
}

/**
 * Backpressure holds a fetched batch at most this long, then gives the rest back: the transport
 * polls again (and fetches it again). librdkafka serves a rebalance only during a poll, and an
 * exactly-once member whose session expired in a broker outage can commit nothing, so can free
 * no room, until it has rejoined: holding for room alone would wait for ever.
 */
const HOLD_BATCH_MS = 5_000;

/** How long start-up waits for the cache to connect before going on without it (fail open). */
const CACHE_READY_TIMEOUT_MS = 5_000;

export interface InferenceWorkerOptions {
  /** The Kafka clients; default: the library kafka.client names (createTransport). */
  transport?: KafkaTransport;
  /** The outcome consumer's clients (feedback); default: `transport`'s library, in the feedback group. */
  feedbackTransport?: KafkaTransport;
  /** Replay: bounds what the consumer hands over (kafka/bounded-consumer.ts). */
  wrapConsumer?: (consumer: ConsumerTransport) => ConsumerTransport;
  /** Spans for each event; default: from config.tracing (none without an endpoint). */
  tracing?: EventTracing;
  /**
   * Awaited after the model is warm and the producer connected, right before joining the group:
   * worker processes join together this way, instead of rebalancing as each one arrives. False:
   * the worker was stopped meanwhile and leaves without joining.
   */
  beforeJoin?: () => Promise<boolean>;
}

export type WorkerState = 'created' | 'starting' | 'running' | 'draining' | 'stopped';

/**
 * One worker: start (models, codecs, cache, Kafka clients, then the event path's stages, built
 * and connected in pipeline-stages.ts), intake (each fetched record joins its partition's lane,
 * while flow control has room), rebalances, and the drain and stop. What happens to an event
 * after intake is the stages' and its lane's business.
 */
export class InferenceWorker {
  private state: WorkerState = 'created';
  private readonly lanes = new Map<string, PartitionLane>();
  private readonly flow: FlowControl;
  private readonly serving: ModelServing;
  private consumer: ConsumerTransport | undefined;
  /** The producer outputs go through, and in exactly-once a plain one for replies. */
  private producers: ProducerTransport[] = [];
  /** A producer outside any transaction: at-least-once's, or exactly-once's for replies. */
  private plainProducer: ProducerTransport | undefined;
  private admin: ClusterAdmin | undefined;
  private lagProbe: GroupLagProbe | undefined;
  private readonly transport: KafkaTransport | undefined;
  private readonly feedbackTransport: KafkaTransport | undefined;
  /** feedback: predictions kept, outcomes joined; undefined when not configured. */
  private feedback: FeedbackLoop | undefined;
  /** Exactly-once: commits outputs and offsets together. */
  private transaction: TransactionCycle | undefined;
  private cache: PredictionCache | undefined;
  /** The event path's stages, built once start-up has what they need (pipeline-stages.ts). */
  private stages: PipelineStages | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private markStopped!: () => void;
  /** Resolves once the worker has stopped, by a stop() call or by a fatal consumer crash. */
  readonly stopped = new Promise<void>((resolve) => (this.markStopped = resolve));
  /** Why the worker stopped on its own, when it did. */
  failure: Error | undefined;
  private joinedGroup = false;
  /** Set when the drain deadline passed: retries give up so that the process can leave. */
  private abandoned = false;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly outcomes: OutcomeMetrics;
  private readonly observers: ObserverGuard;
  private readonly wrapConsumer: (consumer: ConsumerTransport) => ConsumerTransport;
  private tracing: EventTracing | undefined;
  private readonly beforeJoin: (() => Promise<boolean>) | undefined;
  private readonly health: PipelineHealth;

  constructor(
    private readonly config: WorkerConfig,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
    options: InferenceWorkerOptions = {},
  ) {
    this.wrapConsumer = options.wrapConsumer ?? ((consumer) => consumer);
    this.transport = options.transport;
    this.feedbackTransport = options.feedbackTransport;
    this.tracing = options.tracing;
    this.beforeJoin = options.beforeJoin;
    this.flow = new FlowControl(config.flowControl);
    this.backoff = {
      initialMs: config.delivery.retryBackoffMs,
      maxMs: config.delivery.maxRetryBackoffMs,
    };
    this.serving = new ModelServing(
      config.model,
      config.batching,
      config.observability.driftWindow,
      rowPreparationOptions(config),
      metrics,
      logger,
    );
    this.outcomes = new OutcomeMetrics(metrics, config.model.shadow?.tolerance);
    this.observers = new ObserverGuard(logger);
    this.health = new PipelineHealth(config.observability, () => this.totalInFlight());
    metrics.observe({
      consumerGroup: config.kafka.groupId,
      lags: () => this.lags(),
      ready: () => this.ready,
      stalled: () => this.health.stalled,
      drift: () => this.drift(),
      outputDrift: () => this.outputDrift(),
    });
  }

  get status(): WorkerState {
    return this.state;
  }

  /**
   * Ready means: model loaded and warm, this member has joined its group, no model fault holds
   * intake, and acknowledgements keep coming while work is in flight (observability.stallAfterMs).
   */
  get ready(): boolean {
    return (
      this.state === 'running' &&
      this.joinedGroup &&
      !this.stages?.circuit.open &&
      !this.health.stalled
    );
  }

  /**
   * Live means: not stopped, and not wedged (stalled beyond observability.unhealthyAfterMs, or an
   * event loop that was blocked): Kubernetes restarts a pod that is not live.
   */
  get live(): boolean {
    return this.state !== 'stopped' && !this.health.wedged;
  }

  /** The primary model version serving now. */
  get modelIdentity(): { name: string; version: string; provider: string } | undefined {
    return this.serving.router?.primary.identity;
  }

  /** Loads a newer primary version if there is one, and swaps it in (SIGHUP). */
  reloadModel(): Promise<void> {
    return this.serving.reload();
  }

  start(): Promise<void> {
    if (this.state !== 'created') throw new Error(`cannot start a worker that is ${this.state}`);
    this.state = 'starting';
    this.starting = this.connectAndRun();
    return this.starting;
  }

  private async connectAndRun(): Promise<void> {
    const { kafka: options } = this.config;
    await this.serving.start();
    // OpenTelemetry is loaded only when configured: no tracer, no module, no cost otherwise.
    const { otlpEndpoint, serviceName } = this.config.tracing;
    if (!this.tracing && otlpEndpoint) {
      const { EventTracing } = await import('../observability/event-tracing.js');
      this.tracing = EventTracing.toEndpoint(otlpEndpoint, serviceName);
    }

    const codecs = await createCodecs(this.config, {
      shouldContinue: () => !this.stopping,
      logger: this.logger,
    });
    this.cache = createPredictionCache(this.config.cache, this.metrics, this.logger);
    await this.cache?.ready(CACHE_READY_TIMEOUT_MS);

    const transport = this.transport ?? createTransport(options, this.logger);
    this.logger.info({ transport: transport.name }, 'kafka transport');
    const admin = (this.admin = transport.admin());
    this.lagProbe = new GroupLagProbe(admin, this.logger);
    const unwrappedConsumer = transport.consumer();
    const consumer = (this.consumer = this.wrapConsumer(unwrappedConsumer));
    const delivery = this.startDelivery(transport, unwrappedConsumer);
    const { shadow } = this.config.model;
    const written = [options.outputTopic, options.deadLetterTopic, shadow?.topic].filter(
      (t) => t !== undefined,
    );
    const maxMessageBytes = await admin.outputTopicLimit(written); // a missing topic stops here
    this.feedback = this.createFeedback(transport, codecs);
    this.stages = new PipelineStages({
      config: this.config,
      serving: this.serving,
      codecs,
      cache: this.cache,
      ...delivery,
      commitOffsets: (offsets) => consumer.commit(offsets),
      maxMessageBytes,
      flow: this.flow,
      outcomes: this.outcomes,
      feedback: this.feedback,
      backoff: this.backoff,
      keepRetrying: () => !this.abandoned,
      onFatal: (error) => this.fail(error),
      onProgress: () => {
        this.health.progressed();
        this.metrics.inFlight.set(this.totalInFlight());
      },
      metrics: this.metrics,
      logger: this.logger,
      observers: this.observers,
      tracing: this.tracing,
    });

    await Promise.all(this.producers.map((p) => p.connect()));
    if ((await this.beforeJoin?.()) === false || this.stopping) return; // stopped before joining
    await consumer.run(
      {
        topics: options.inputTopics ?? new RegExp(options.inputTopicPattern!),
        fromBeginning: options.fromBeginning,
      },
      {
        onBatch: (batch) => this.onFetchedBatch(batch),
        onAssigned: (partitions) => this.onAssigned(partitions),
        onRevoked: (partitions) => this.onRevoked(partitions),
        onFatal: (error) => this.fail(error),
      },
    );
    this.state = 'running';
    await this.startFeedback();
  }

  /** feedback: the loop, with a plain producer for outcome dead letters (one of its own if none). */
  private createFeedback(transport: KafkaTransport, codecs: CodecSet): FeedbackLoop | undefined {
    const feedback = this.config.feedback;
    if (!feedback) return undefined;
    let producer = this.plainProducer;
    if (!producer) this.producers.push((producer = transport.producer()));
    const primary = this.serving.router.primary;
    return FeedbackLoop.create({
      config: this.config,
      model: primary.identity.name,
      output: primary.model.manifest.output,
      served: this.serving,
      decoder: codecs.decoderFor(feedback.topic),
      producer,
      backoff: this.backoff,
      keepRetrying: () => !this.abandoned,
      onFatal: (error) => this.fail(error),
      metrics: this.metrics,
      logger: this.logger,
    });
  }

  private async startFeedback(): Promise<void> {
    if (!this.feedback) return;
    const { kafka } = this.config;
    const transport =
      this.feedbackTransport ??
      createTransport(
        {
          ...kafka,
          groupId: feedbackGroupId(this.config),
          ...(kafka.groupInstanceId
            ? { groupInstanceId: `${kafka.groupInstanceId}.feedback` }
            : {}),
        },
        this.logger,
      );
    await this.feedback.start(transport.consumer());
  }

  /**
   * The producers for the delivery guarantee: the one the flusher sends with, the reply sender
   * and, exactly once, the transaction cycle. At least once: one producer, offsets committed by
   * the consumer. Exactly once: a transactional producer whose transactions carry the offsets
   * (and, with replies allowed, a plain one for the replies, which go out after their outputs
   * commit).
   */
  private startDelivery(
    transport: KafkaTransport,
    consumer: ConsumerTransport,
  ): { producer: ProducerTransport; replies: ReplySender; transaction?: TransactionCycle } {
    const { delivery } = this.config;
    const replySender = (producer: ProducerTransport) =>
      new ReplySender(producer, this.backoff, () => !this.abandoned, this.metrics, this.logger);
    if (delivery.guarantee === 'at-least-once') {
      const producer = transport.producer();
      this.producers = [producer];
      this.plainProducer = producer;
      return { producer, replies: replySender(producer) };
    }
    if (!transport.transactionalProducer) {
      throw new ConfigError(
        'delivery.guarantee',
        `exactly-once needs the librdkafka client (transactions fenced by group generation); ` +
          `this worker runs on ${transport.name}, got "exactly-once"`,
      );
    }
    const transactionalId = transactionalIdFor(this.config);
    this.logger.info({ transactionalId }, 'exactly-once: transactional producer');
    const transactional = transport.transactionalProducer({
      transactionalId,
      transactionTimeoutMs: delivery.transactionTimeoutMs,
    });
    const plain = this.config.replies.allowedTopics ? transport.producer() : undefined;
    this.producers = plain ? [transactional, plain] : [transactional];
    this.plainProducer = plain;
    const producer = plain ?? transactional;
    const replies = replySender(producer);
    const transaction = (this.transaction = new TransactionCycle(
      transactional,
      consumer,
      {
        intervalMs: delivery.transactionIntervalMs,
        maxEvents: Math.max(1, Math.floor(this.config.flowControl.maxInFlightTotal / 2)),
        backoff: this.backoff,
        keepRetrying: () => !this.abandoned,
      },
      {
        onReplies: (lane, outgoing) => void replies.send(lane, outgoing),
        onFatal: (error) => this.fail(error),
      },
      this.metrics,
      this.logger,
    ));
    return { producer, replies, transaction };
  }

  /**
   * A fatal failure (error-policy.ts), or a bug that escaped to the process: stop, committing
   * what is acknowledged, so that the process exits non-zero with the cause and its supervisor
   * restarts it (or a human looks), instead of idling as a member that consumes nothing or
   * retrying what cannot succeed.
   */
  fail(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error));
    if (!this.failure) {
      this.logger.fatal({ err: errorMessage(failure), stack: failure.stack }, 'fatal; stopping');
    }
    this.failure ??= failure;
    void this.stop();
  }

  /**
   * Graceful stop: stop fetching, drain in-flight work until the deadline, commit, leave the
   * group. Safe to call twice: the second call gets the first call's promise.
   */
  stop(): Promise<void> {
    this.stopping ??= this.drainAndClose();
    return this.stopping;
  }

  /**
   * One deadline (shutdown.deadlineMs, an AbortSignal) bounds the whole stop. The drain may use
   * all but the last quarter of it (at most 5 s), which is kept for the final commit, the
   * disconnects and releasing the models; a step still running at the deadline is left behind
   * (what it did not commit is redelivered) and the steps after it are started without waiting.
   */
  private async drainAndClose(): Promise<void> {
    const { deadlineMs } = this.config.shutdown;
    const deadline = AbortSignal.timeout(deadlineMs);
    const drainUntil = Date.now() + deadlineMs - Math.min(5_000, deadlineMs / 4);
    // A stop during start-up (SIGTERM while the model warms up) lets start-up finish first, so
    // that nothing it creates outlives the stop.
    await beforeDeadline(
      this.starting?.catch(() => undefined),
      deadline,
    );
    const wasRunning = this.state === 'running';
    this.state = 'draining';
    if (wasRunning) {
      this.consumer?.pauseAll();
      for (const version of this.serving.router.all()) version.cut();
      while (this.totalInFlight() > 0 && Date.now() < drainUntil) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const left = this.totalInFlight();
      if (left > 0) {
        this.logger.warn(
          { inFlight: left },
          'shutdown deadline near; in-flight work will be redelivered',
        );
      }
    }
    this.abandoned = true; // retry loops stop, so what is still in flight settles or gives up
    const steps: [string, () => Promise<unknown> | undefined][] = [
      ['final commit', () => (wasRunning ? this.stages?.flushAndCommit() : undefined)],
      ['consumer', () => this.consumer?.disconnect()],
      ['feedback', () => this.feedback?.stop()],
      [
        'admin',
        () => {
          this.lagProbe?.close();
          return this.admin?.close();
        },
      ],
      ['producer', () => Promise.all(this.producers.map((p) => p.disconnect()))],
      ['models', () => this.serving.close()],
      ['cache', () => this.cache?.close()],
      ['tracing', () => this.tracing?.shutdown()],
    ];
    this.stages?.committer?.stop();
    for (const [label, step] of steps) {
      const warnFailed = (error: unknown) =>
        this.logger.warn({ err: errorMessage(error) }, `${label} failed while stopping`);
      if (deadline.aborted) {
        // Past the deadline the rest is started, not awaited: sockets and inference threads
        // still close, so that nothing of this worker outlives it (a hung broker call aside).
        Promise.resolve().then(step).catch(warnFailed);
        continue;
      }
      try {
        if (!(await beforeDeadline(step(), deadline))) {
          this.logger.warn({ step: label, deadlineMs }, 'shutdown deadline passed; leaving');
        }
      } catch (error) {
        warnFailed(error);
      }
    }
    this.health.close();
    this.state = 'stopped';
    this.logger.info('worker stopped');
    this.markStopped();
  }

  /** Accepts a fetched batch in offset order; resolves with how many records it took. */
  private async onFetchedBatch(batch: FetchedBatch): Promise<number> {
    const stages = this.stages;
    if (!stages) return 0; // not started: nothing is taken
    const lane = this.laneFor(batch.topic, batch.partition, stages);
    lane.sawHighWatermark(batch.highWatermark);
    const stillOurs = () => batch.isCurrent() && this.state === 'running' && lane.accepting;
    const { records } = batch;
    let taken = 0;
    let accepted = 0;
    let room = 0;
    while (taken < records.length && stillOurs()) {
      const record = records[taken]!;
      if (lane.alreadyAccepted(record.offset)) {
        taken++; // refetched after a seek; it is already in flight
        continue;
      }
      if (room === 0) room = this.roomFor(lane);
      if (room === 0) {
        // Backpressure: hold this batch (and so the fetch loop) until acknowledgements free room.
        this.metrics.backpressureWaits.inc();
        this.metrics.backpressureActive.set(1);
        const giveBackAt = Date.now() + HOLD_BATCH_MS;
        while (stillOurs() && (room = this.roomFor(lane)) === 0 && Date.now() < giveBackAt) {
          await this.flow.waitForRoom(this.config.kafka.heartbeatIntervalMs);
        }
        this.metrics.backpressureActive.set(0);
        if (room === 0) break; // the rest is fetched again, after a poll
        continue;
      }
      this.accept(lane, record, stages.admission);
      room--;
      taken++;
      accepted++;
    }
    if (accepted > 0) this.metrics.eventsConsumed.inc({ topic: batch.topic }, accepted);
    this.metrics.inFlight.set(this.totalInFlight());
    return taken;
  }

  /** How many more events the lane may take now: none while a model fault holds intake. */
  private roomFor(lane: PartitionLane): number {
    return this.stages?.circuit.open ? 0 : this.flow.room(lane, this.totalInFlight());
  }

  private accept(lane: PartitionLane, record: ConsumedRecord, admission: EventAdmission): void {
    const { topic, partition } = lane;
    const event: InFlightEvent = {
      lane,
      topic,
      partition,
      offset: record.offset,
      key: record.key,
      value: record.value,
      headers: record.headers,
      timestamp: record.timestamp,
      acceptedAt: performance.now(),
    };
    if (this.tracing) event.span = this.tracing.startEvent(event);
    lane.accept(event);
    // The version is chosen now, in offset order, so that a swap splits a partition exactly once.
    const version = this.serving.router.route(event);
    const shadow = this.serving.router.shadow?.version;
    version.reserve();
    shadow?.reserve();
    admission.admit(event, version, shadow);
  }

  private onAssigned(partitions: TopicPartition[]): void {
    this.joinedGroup = true;
    this.lagProbe?.assignedPartitions(partitions);
    this.metrics.rebalances.inc();
    this.logger.info({ partitions }, 'partitions assigned');
  }

  /**
   * Partitions going to another member (or lost): commit what is acknowledged while this
   * generation may still commit, so the next owner redelivers less, then drop their state.
   */
  private async onRevoked(partitions: TopicPartition[]): Promise<void> {
    this.lagProbe?.revokedPartitions(partitions);
    // Out of the map at once: records fetched after a rejoin start new lanes, never these.
    const leaving: PartitionLane[] = [];
    for (const { topic, partition } of partitions) {
      const lane = this.lanes.get(laneKey(topic, partition));
      if (!lane) continue;
      this.lanes.delete(lane.key);
      leaving.push(lane);
    }
    if (leaving.length === 0) return;
    const revoke = () => {
      for (const lane of leaving) {
        const dropped = lane.revoke();
        this.logger.info(
          { lane: lane.key, dropped },
          'partition revoked; its uncommitted events will be redelivered',
        );
      }
    };
    if (this.transaction) {
      // Exactly once: the lanes stop first, so that nothing of theirs enters a later transaction;
      // then the open one ends with what they wrote and its offsets: committed while this member
      // still owns the partitions, or aborted when it lost them (the next owner redoes them).
      revoke();
      await this.transaction.commit();
    } else {
      // At least once: commit what is acknowledged while this generation still may.
      await this.stages?.committer?.flush();
      revoke();
    }
    this.flow.released();
  }

  private laneFor(topic: string, partition: number, listener: LaneListener): PartitionLane {
    const key = laneKey(topic, partition);
    let lane = this.lanes.get(key);
    if (!lane) {
      const withShadow = this.config.model.shadow !== undefined;
      lane = new PartitionLane(topic, partition, withShadow, listener);
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /**
   * Each assigned partition's lag: the lane's own figure where it has fetched (fresher), the
   * brokers' where it has not (an idle partition still gets its series).
   */
  private *lags(): Iterable<{ topic: string; partition: number; lag: number }> {
    const known = new Set<string>();
    for (const lane of this.lanes.values()) {
      const lag = lane.lag;
      if (lag === undefined) continue;
      known.add(lane.key);
      yield { topic: lane.topic, partition: lane.partition, lag };
    }
    for (const entry of this.lagProbe?.current() ?? []) {
      if (!known.has(laneKey(entry.topic, entry.partition))) yield entry;
    }
  }

  private *drift(): Iterable<{
    model: string;
    version: string;
    feature: string;
    kind: string;
    psi: number;
  }> {
    if (!this.serving.router) return;
    for (const version of this.serving.router.all()) {
      const drift = version.monitoring.features;
      if (!drift) continue;
      const { name: model, version: number } = version.identity;
      const psi = drift.psi();
      for (const { name, kind } of drift.tracked) {
        const value = psi.get(name);
        if (value !== undefined) {
          yield { model, version: number, feature: name, kind: kind ?? 'number', psi: value };
        }
      }
    }
  }

  private *outputDrift(): Iterable<{ model: string; version: string; psi: number }> {
    if (!this.serving.router) return;
    for (const version of this.serving.router.all()) {
      const psi = version.monitoring.output?.psi();
      if (psi !== undefined)
        yield { model: version.identity.name, version: version.identity.version, psi };
    }
  }

  private totalInFlight(): number {
    let total = 0;
    for (const lane of this.lanes.values()) total += lane.inFlight;
    return total;
  }
}
