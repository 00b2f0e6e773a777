import type { Logger } from 'pino';
import { createPredictionCache } from '../cache/create-prediction-cache.js';
import type { PredictionCache } from '../cache/prediction-cache.js';
import { createCodecs } from '../codec/codec-set.js';
import type { WorkerConfig } from '../config/worker-config.js';
import { errorMessage } from '../errors.js';
import { createTransport } from '../kafka/create-transport.js';
import { OffsetCommitter } from '../kafka/offset-committer.js';
import type {
  ConsumedRecord,
  ConsumerTransport,
  FetchedBatch,
  ProducerTransport,
  TopicPartition,
} from '../kafka/transport.js';
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
  private consumer: ConsumerTransport | undefined;
  private producer: ProducerTransport | undefined;
  private flusher!: OutputFlusher;
  private committer!: OffsetCommitter;
  private cache: PredictionCache | undefined;
  private preparation!: EventPreparation;
  private batches!: BatchExecution;
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

    const transport = createTransport(options, this.logger);
    this.logger.info({ transport: transport.name }, 'kafka transport');
    const producer = (this.producer = transport.producer());
    const consumer = (this.consumer = transport.consumer());
    this.flusher = new OutputFlusher(
      producer,
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
      maxEventBytes: this.config.limits.maxEventBytes,
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
      (lane) => this.flusher.schedule(lane),
      this.metrics,
      this.logger,
    );
    this.committer = new OffsetCommitter(
      (offsets) => consumer.commit(offsets),
      this.config.delivery.commitIntervalMs,
      this.metrics,
      this.logger,
    );

    await producer.connect();
    await consumer.run(
      {
        topics: options.inputTopics ?? new RegExp(options.inputTopicPattern!),
        fromBeginning: options.fromBeginning,
      },
      {
        onBatch: (batch) => this.onFetchedBatch(batch),
        onAssigned: (partitions) => this.onAssigned(partitions),
        onRevoked: (partitions) => this.onRevoked(partitions),
        onFatal: (error) => {
          this.logger.error({ err: errorMessage(error) }, 'kafka consumer failed; stopping');
          // Stop (committing what is acknowledged) so the process exits non-zero and its
          // supervisor restarts it, instead of idling as a member that consumes nothing.
          this.failure ??= error;
          void this.stop();
        },
      },
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
      this.consumer?.pauseAll();
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

  /** Accepts a fetched batch in offset order; resolves with how many records it took. */
  private async onFetchedBatch(batch: FetchedBatch): Promise<number> {
    const lane = this.laneFor(batch.topic, batch.partition);
    const stillOurs = () => batch.isCurrent() && this.state === 'running' && !lane.revoked;
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
      if (room === 0) room = this.flow.room(lane, this.totalInFlight());
      if (room === 0) {
        // Backpressure: hold this batch (and so the fetch loop) until acknowledgements free room.
        this.metrics.backpressureWaits.inc();
        this.metrics.backpressureActive.set(1);
        while (stillOurs() && (room = this.flow.room(lane, this.totalInFlight())) === 0) {
          await this.flow.waitForRoom(this.config.kafka.heartbeatIntervalMs);
        }
        this.metrics.backpressureActive.set(0);
        continue;
      }
      this.accept(lane, record);
      room--;
      taken++;
      accepted++;
    }
    if (accepted > 0) this.metrics.eventsConsumed.inc({ topic: batch.topic }, accepted);
    this.metrics.inFlight.set(this.totalInFlight());
    return taken;
  }

  private accept(lane: PartitionLane, record: ConsumedRecord): void {
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
    lane.accept(event);
    // The version is chosen now, in offset order, so that a swap splits a partition exactly once.
    const version = this.serving.router.route(event);
    const shadow = this.serving.router.shadow?.version;
    version.reserve();
    shadow?.reserve();
    this.preparation.prepare(event, version, shadow);
  }

  private onAcknowledged(lane: PartitionLane, events: InFlightEvent[]): void {
    const now = performance.now();
    const predictedBy = new Map<string, number>();
    for (const event of events) {
      const outcome = event.outcome!;
      if (outcome.type === 'dead-letter') {
        this.metrics.deadLetters.inc({ stage: outcome.error.stage });
      } else {
        const version = outcome.model.version;
        predictedBy.set(version, (predictedBy.get(version) ?? 0) + 1);
      }
      this.metrics.eventSeconds.observe((now - event.acceptedAt) / 1000);
    }
    for (const [version, count] of predictedBy) {
      this.metrics.predictionsProduced.inc({ model_version: version }, count);
    }
    this.committer.markDirty(lane);
    this.metrics.inFlight.set(this.totalInFlight());
    this.flow.released();
  }

  private onAssigned(partitions: TopicPartition[]): void {
    this.joinedGroup = true;
    this.metrics.rebalances.inc();
    this.logger.info({ partitions }, 'partitions assigned');
  }

  /**
   * Partitions going to another member (or lost): commit what is acknowledged while this
   * generation may still commit, so the next owner redelivers less, then drop their state.
   */
  private async onRevoked(partitions: TopicPartition[]): Promise<void> {
    // Out of the map at once: records fetched after a rejoin start new lanes, never these.
    const leaving: PartitionLane[] = [];
    for (const { topic, partition } of partitions) {
      const lane = this.lanes.get(laneKey(topic, partition));
      if (!lane) continue;
      this.lanes.delete(lane.key);
      leaving.push(lane);
    }
    if (leaving.length === 0) return;
    await this.committer.flush();
    for (const lane of leaving) {
      const dropped = lane.revoke();
      this.logger.info(
        { lane: lane.key, dropped },
        'partition revoked; its uncommitted events will be redelivered',
      );
    }
    this.flow.released();
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

  private totalInFlight(): number {
    let total = 0;
    for (const lane of this.lanes.values()) total += lane.inFlight;
    return total;
  }
}
