import {
  Partitioners,
  type Consumer,
  type EachBatchPayload,
  type KafkaMessage,
  type Producer,
} from 'kafkajs';
import type { Logger } from 'pino';
import { createPredictionCache } from '../cache/create-prediction-cache.js';
import type { PredictionCache } from '../cache/prediction-cache.js';
import { createCodecs } from '../codec/codec-set.js';
import type { WorkerConfig } from '../config/worker-config.js';
import { errorMessage } from '../errors.js';
import { createKafka } from '../kafka/kafka-client.js';
import { OffsetCommitter } from '../kafka/offset-committer.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { BatchExecution } from './batch-execution.js';
import { EventPreparation } from './event-preparation.js';
import { FlowControl } from './flow-control.js';
import type { InFlightEvent } from './in-flight-event.js';
import { InferenceStage } from './inference-stage.js';
import { ModelServing } from './model-serving.js';
import { OutputFlusher } from './output-flusher.js';
import { PartitionLane, laneKey } from './partition-lane.js';

/** How long start-up waits for the cache to connect before going on without it (fail open). */
const CACHE_READY_TIMEOUT_MS = 5_000;

export type WorkerState = 'created' | 'starting' | 'running' | 'draining' | 'stopped';

/**
 * Wires the path of an event: consume → decode → featurize → micro-batch → infer → produce →
 * commit. The parts do not know each other; this class owns their order and the promises:
 * commit only acknowledged prefixes, keep per-partition order, hold intake when full, drain on stop.
 */
export class InferenceWorker {
  private state: WorkerState = 'created';
  private readonly lanes = new Map<string, PartitionLane>();
  private readonly flow: FlowControl;
  private readonly inference: InferenceStage;
  private readonly serving: ModelServing;
  private consumer!: Consumer;
  private producer!: Producer;
  private flusher!: OutputFlusher;
  private committer!: OffsetCommitter;
  private cache: PredictionCache | undefined;
  private preparation!: EventPreparation;
  private batches!: BatchExecution;
  private heartbeat: (() => Promise<void>) | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
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

  constructor(
    private readonly config: WorkerConfig,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {
    this.flow = new FlowControl(config.flowControl);
    this.backoff = {
      initialMs: config.delivery.retryBackoffMs,
      maxMs: config.delivery.maxRetryBackoffMs,
    };
    this.inference = new InferenceStage(this.backoff, () => !this.abandoned, logger);
    this.serving = new ModelServing(
      config.model,
      config.batching,
      (version, rows) => this.batches.run(version, rows),
      metrics,
      logger,
    );
  }

  get status(): WorkerState {
    return this.state;
  }

  /** Ready means: model loaded and warm, and this member has joined its group. */
  get ready(): boolean {
    return this.state === 'running' && this.joinedGroup;
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

    const codecs = await createCodecs(this.config, {
      shouldContinue: () => !this.stopping,
      logger: this.logger,
    });
    this.cache = createPredictionCache(this.config.cache, this.metrics, this.logger);
    await this.cache?.ready(CACHE_READY_TIMEOUT_MS);

    const kafka = createKafka(options, this.logger);
    // Keyed outputs land by the Java client's murmur2 partitioning, like any other producer's.
    this.producer = kafka.producer({
      allowAutoTopicCreation: false,
      idempotent: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      maxBytesPerPartition: options.maxBytesPerPartition,
      maxWaitTimeInMs: options.fetchMaxWaitMs,
      allowAutoTopicCreation: false,
    });
    this.flusher = new OutputFlusher(
      this.producer,
      {
        output: options.outputTopic,
        deadLetter: options.deadLetterTopic,
        shadow: this.config.model.shadow?.topic,
      },
      codecs.encoder,
      this.backoff,
      () => !this.abandoned,
      (lane, events) => this.onAcknowledged(lane, events),
      this.metrics,
      this.logger,
    );
    this.preparation = new EventPreparation({
      codecs,
      cache: this.cache ? this.config.cache : undefined,
      decodeBackoff: {
        initialMs: this.config.schemaRegistry?.retryBackoffMs ?? this.backoff.initialMs,
        maxMs: this.backoff.maxMs,
      },
      keepRetrying: () => !this.abandoned,
      onDeadLetter: (lane) => this.flusher.schedule(lane),
      metrics: this.metrics,
      logger: this.logger,
    });
    this.batches = new BatchExecution(
      this.inference,
      this.cache,
      (event) => {
        const lane = this.lanes.get(laneKey(event.topic, event.partition));
        return lane && !lane.revoked ? lane : undefined;
      },
      (lane) => this.flusher.schedule(lane),
      this.metrics,
      this.logger,
    );
    this.committer = new OffsetCommitter(
      (offsets) => this.consumer.commitOffsets(offsets),
      this.config.delivery.commitIntervalMs,
      this.metrics,
      this.logger,
    );
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) =>
      this.onGroupJoin(payload.memberAssignment),
    );
    // kafkajs has no onPartitionsRevoked: commit what is acknowledged as the rebalance starts,
    // while this generation may still commit, so the next owner redelivers less.
    this.consumer.on(this.consumer.events.REBALANCING, () => void this.committer.flush());
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      this.logger.error(
        { err: errorMessage(payload.error), restart: payload.restart },
        'consumer crashed',
      );
      if (payload.restart) return; // kafkajs rejoins by itself
      // Not restarting: stop (committing what is acknowledged) so the process exits non-zero and
      // its supervisor restarts it, instead of idling as a member that consumes nothing.
      this.failure = payload.error;
      void this.stop();
    });

    await this.producer.connect();
    await this.consumer.connect();
    const topics = options.inputTopics ?? [new RegExp(options.inputTopicPattern!)];
    await this.consumer.subscribe({ topics, fromBeginning: options.fromBeginning });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onFetchedBatch(payload),
    });
    this.heartbeatTimer = setInterval(
      () => void this.heartbeatWhileBusy(),
      options.heartbeatIntervalMs,
    );
    this.state = 'running';
  }

  /**
   * Graceful stop: stop fetching, drain in-flight work until the deadline, commit, leave the
   * group. Safe to call twice: the second call gets the first call's promise.
   */
  stop(): Promise<void> {
    this.stopping ??= this.drainAndClose();
    return this.stopping;
  }

  private async drainAndClose(): Promise<void> {
    // A stop during start-up (SIGTERM while the model warms up) lets start-up finish first, so
    // that nothing it creates outlives the stop.
    await this.starting?.catch(() => undefined);
    const wasRunning = this.state === 'running';
    this.state = 'draining';
    const deadline = Date.now() + this.config.shutdown.deadlineMs;
    if (wasRunning) {
      this.pauseEverything();
      for (const version of this.serving.router.all()) version.cut();
      while (this.totalInFlight() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const left = this.totalInFlight();
      if (left > 0) {
        this.logger.warn(
          { inFlight: left },
          'shutdown deadline passed; in-flight work will be redelivered',
        );
      }
    }
    this.abandoned = true; // retry loops stop, so what is still in flight settles or gives up
    if (wasRunning) {
      await this.flusher.idle();
      await this.committer.flush();
    }
    this.committer?.stop();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const [label, close] of [
      ['consumer', () => this.consumer?.disconnect()],
      ['producer', () => this.producer?.disconnect()],
      ['models', () => this.serving.close()],
      ['cache', () => this.cache?.close()],
    ] as const) {
      try {
        await close();
      } catch (error) {
        this.logger.warn({ err: errorMessage(error) }, `closing ${label} failed`);
      }
    }
    this.state = 'stopped';
    this.logger.info('worker stopped');
    this.markStopped();
  }

  private async onFetchedBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, isRunning, isStale, heartbeat } = payload;
    this.heartbeat = heartbeat;
    const lane = this.laneFor(batch.topic, batch.partition);
    const stillOurs = () => isRunning() && !isStale() && this.state === 'running' && !lane.revoked;
    for (const message of batch.messages) {
      if (!stillOurs()) break;
      if (lane.alreadyAccepted(message.offset)) {
        resolveOffset(message.offset); // refetched after a rejoin; it is already in flight
        continue;
      }
      // Backpressure: hold this batch (and so the fetch loop) until acknowledgements free room.
      // Pausing partitions instead would idle kafkajs for a whole maxWaitTime once all are paused.
      if (!this.flow.canAccept(lane, this.totalInFlight())) {
        this.metrics.backpressureWaits.inc();
        this.metrics.backpressureActive.set(1);
        while (stillOurs() && !this.flow.canAccept(lane, this.totalInFlight())) {
          await this.flow.waitForRoom(this.config.kafka.heartbeatIntervalMs);
          await heartbeat();
        }
        this.metrics.backpressureActive.set(0);
        if (!stillOurs()) break;
      }
      this.accept(lane, batch.topic, batch.partition, message);
      resolveOffset(message.offset);
    }
    this.metrics.inFlight.set(this.totalInFlight());
    await heartbeat();
  }

  private accept(
    lane: PartitionLane,
    topic: string,
    partition: number,
    message: KafkaMessage,
  ): void {
    const event: InFlightEvent = {
      topic,
      partition,
      offset: message.offset,
      key: message.key,
      value: message.value,
      headers: message.headers ?? {},
      timestamp: Number(message.timestamp),
      acceptedAt: performance.now(),
    };
    lane.accept(event);
    this.metrics.eventsConsumed.inc({ topic });
    // The version is chosen now, in offset order, so that a swap splits a partition exactly once.
    const version = this.serving.router.route(
      message.key,
      `${topic}/${partition}/${message.offset}`,
    );
    const shadow = this.serving.router.shadow?.version;
    version.reserve();
    shadow?.reserve();
    void this.preparation.prepare(lane, event, version, shadow);
  }

  private onAcknowledged(lane: PartitionLane, events: InFlightEvent[]): void {
    const now = performance.now();
    for (const event of events) {
      const outcome = event.outcome!;
      if (outcome.type === 'dead-letter')
        this.metrics.deadLetters.inc({ stage: outcome.error.stage });
      else this.metrics.predictionsProduced.inc({ model_version: outcome.model.version });
      this.metrics.eventSeconds.observe((now - event.acceptedAt) / 1000);
    }
    this.committer.markDirty(lane);
    this.metrics.inFlight.set(this.totalInFlight());
    this.flow.released();
  }

  private onGroupJoin(assignment: Record<string, number[]>): void {
    this.joinedGroup = true;
    this.metrics.rebalances.inc();
    const owned = new Set(
      Object.entries(assignment).flatMap(([topic, partitions]) =>
        partitions.map((p) => laneKey(topic, p)),
      ),
    );
    for (const [key, lane] of this.lanes) {
      if (owned.has(key)) continue;
      const dropped = lane.revoke();
      this.lanes.delete(key);
      this.logger.info(
        { lane: key, dropped },
        'partition revoked; its uncommitted events will be redelivered',
      );
    }
    this.flow.released();
    this.logger.info({ assignment }, 'joined consumer group');
  }

  private laneFor(topic: string, partition: number): PartitionLane {
    const key = laneKey(topic, partition);
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = new PartitionLane(topic, partition, this.config.model.shadow !== undefined);
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /** Shutdown: stop fetching everywhere while in-flight work drains. */
  private pauseEverything(): void {
    const topics = new Set([...this.lanes.values()].map((lane) => lane.topic));
    for (const topic of this.config.kafka.inputTopics ?? []) topics.add(topic);
    this.consumer.pause([...topics].map((topic) => ({ topic })));
  }

  private totalInFlight(): number {
    let total = 0;
    for (const lane of this.lanes.values()) total += lane.inFlight;
    return total;
  }

  /** kafkajs heartbeats only between batches; keep the membership alive while work is pending. */
  private async heartbeatWhileBusy(): Promise<void> {
    if (!this.heartbeat || this.totalInFlight() === 0) return;
    try {
      await this.heartbeat();
    } catch (error) {
      this.logger.debug({ err: errorMessage(error) }, 'heartbeat failed (the runner will rejoin)');
    }
  }
}
