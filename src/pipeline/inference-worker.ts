import { Partitioners, type Consumer, type EachBatchPayload, type KafkaMessage, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { MicroBatcher } from '../batch/micro-batcher.js';
import { decodeJsonRecord } from '../codec/json-codec.js';
import type { WorkerConfig } from '../config/worker-config.js';
import { PoisonInputError, errorMessage } from '../errors.js';
import { createKafka } from '../kafka/kafka-client.js';
import { OffsetCommitter } from '../kafka/offset-committer.js';
import { LoadedModel } from '../model/loaded-model.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { FlowControl } from './flow-control.js';
import type { InFlightEvent } from './in-flight-event.js';
import { InferenceStage, type PendingRow } from './inference-stage.js';
import { OutputFlusher } from './output-flusher.js';
import { PartitionLane, laneKey } from './partition-lane.js';

export type WorkerState = 'created' | 'starting' | 'running' | 'draining' | 'stopped';

/**
 * Wires the path of an event: consume → decode → featurize → micro-batch → infer → produce →
 * commit. The parts do not know each other; this class owns their order and the promises:
 * commit only acknowledged prefixes, keep per-partition order, pause when full, drain on stop.
 */
export class InferenceWorker {
  private state: WorkerState = 'created';
  private readonly lanes = new Map<string, PartitionLane>();
  private readonly flow: FlowControl;
  private readonly batcher: MicroBatcher<PendingRow>;
  private readonly inference: InferenceStage;
  private consumer!: Consumer;
  private producer!: Producer;
  private flusher!: OutputFlusher;
  private committer!: OffsetCommitter;
  private model!: LoadedModel;
  private heartbeat: (() => Promise<void>) | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private joinedGroup = false;
  /** Set when the drain deadline passed: retries give up so that the process can leave. */
  private abandoned = false;

  constructor(
    private readonly config: WorkerConfig,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {
    this.flow = new FlowControl(config.flowControl);
    const backoff = {
      initialMs: config.delivery.retryBackoffMs,
      maxMs: config.delivery.maxRetryBackoffMs,
    };
    this.inference = new InferenceStage(() => this.model, backoff, () => !this.abandoned, logger);
    this.batcher = new MicroBatcher(config.batching, (rows) => void this.runBatch(rows));
  }

  get status(): WorkerState {
    return this.state;
  }

  /** Ready means: model loaded and warm, and this member has joined its group. */
  get ready(): boolean {
    return this.state === 'running' && this.joinedGroup;
  }

  get modelIdentity(): { name: string; version: string; provider: string } | undefined {
    return this.model?.identity;
  }

  async start(): Promise<void> {
    if (this.state !== 'created') throw new Error(`cannot start a worker that is ${this.state}`);
    this.state = 'starting';
    const { kafka: options, model: modelOptions } = this.config;
    this.model = await LoadedModel.load(modelOptions.path, modelOptions, (stats) => {
      this.metrics.batchSize.observe(stats.batchSize);
      this.metrics.inferenceSeconds.observe(stats.elapsedMs / 1000);
    });
    const identity = this.model.identity;
    this.metrics.modelInfo.set({ model: identity.name, version: identity.version, provider: identity.provider }, 1);
    this.logger.info(identity, 'model loaded');

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
    const backoff = {
      initialMs: this.config.delivery.retryBackoffMs,
      maxMs: this.config.delivery.maxRetryBackoffMs,
    };
    this.flusher = new OutputFlusher(
      this.producer,
      { output: options.outputTopic, deadLetter: options.deadLetterTopic },
      backoff,
      () => !this.abandoned,
      (lane, events) => this.onAcknowledged(lane, events),
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
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      this.logger.error({ err: errorMessage(payload.error), restart: payload.restart }, 'consumer crashed');
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
    this.heartbeatTimer = setInterval(() => void this.heartbeatWhileBusy(), options.heartbeatIntervalMs);
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
    const wasRunning = this.state === 'running';
    this.state = 'draining';
    const deadline = Date.now() + this.config.shutdown.deadlineMs;
    if (wasRunning) {
      this.pauseEverything();
      this.batcher.cut();
      while (this.totalInFlight() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const left = this.totalInFlight();
      if (left > 0) this.logger.warn({ inFlight: left }, 'shutdown deadline passed with work in flight; it will be redelivered');
      this.abandoned = true;
      await this.flusher.idle();
      await this.committer.flush();
    }
    this.abandoned = true;
    this.committer?.stop();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const [label, close] of [
      ['consumer', () => this.consumer?.disconnect()],
      ['producer', () => this.producer?.disconnect()],
      ['model', () => this.model?.close()],
    ] as const) {
      try {
        await close();
      } catch (error) {
        this.logger.warn({ err: errorMessage(error) }, `closing ${label} failed`);
      }
    }
    this.state = 'stopped';
    this.logger.info('worker stopped');
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

  private accept(lane: PartitionLane, topic: string, partition: number, message: KafkaMessage): void {
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
    try {
      const record = decodeJsonRecord(message.value);
      const row = this.model.featurizer.encode(record);
      this.batcher.add({ event, row });
    } catch (error) {
      if (!(error instanceof PoisonInputError)) throw error;
      event.outcome = { type: 'dead-letter', error };
      this.flusher.schedule(lane);
    }
  }

  private async runBatch(rows: PendingRow[]): Promise<void> {
    try {
      await this.inference.run(rows);
    } catch (error) {
      // Only reachable when shutdown abandoned retries; those events stay uncommitted.
      this.logger.warn({ err: errorMessage(error), rows: rows.length }, 'batch abandoned');
      return;
    }
    const touched = new Set<PartitionLane>();
    for (const { event } of rows) {
      const lane = this.lanes.get(laneKey(event.topic, event.partition));
      if (lane && !lane.revoked) touched.add(lane);
    }
    for (const lane of touched) this.flusher.schedule(lane);
  }

  private onAcknowledged(lane: PartitionLane, events: InFlightEvent[]): void {
    const now = performance.now();
    for (const event of events) {
      const outcome = event.outcome!;
      if (outcome.type === 'dead-letter') this.metrics.deadLetters.inc({ stage: outcome.error.stage });
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
      Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => laneKey(topic, p))),
    );
    for (const [key, lane] of this.lanes) {
      if (owned.has(key)) continue;
      const dropped = lane.revoke();
      this.lanes.delete(key);
      this.logger.info({ lane: key, dropped }, 'partition revoked; its uncommitted events will be redelivered');
    }
    this.flow.released();
    this.logger.info({ assignment }, 'joined consumer group');
  }

  private laneFor(topic: string, partition: number): PartitionLane {
    const key = laneKey(topic, partition);
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = new PartitionLane(topic, partition);
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
