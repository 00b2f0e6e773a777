import {
  Partitioners,
  type Consumer,
  type EachBatchPayload,
  type KafkaMessage,
  type Producer,
} from 'kafkajs';
import type { Logger } from 'pino';
import { createPredictionCache } from '../cache/create-prediction-cache.js';
import { predictionCacheKey, type PredictionCache } from '../cache/prediction-cache.js';
import { retryWithBackoff } from '../batch/backoff.js';
import { createCodecs, type CodecSet } from '../codec/codec-set.js';
import type { WorkerConfig } from '../config/worker-config.js';
import { PoisonInputError, RetriableError, errorMessage } from '../errors.js';
import { createKafka } from '../kafka/kafka-client.js';
import { OffsetCommitter } from '../kafka/offset-committer.js';
import type { Prediction } from '../model/postprocessor.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { FlowControl } from './flow-control.js';
import type { InFlightEvent } from './in-flight-event.js';
import { InferenceStage } from './inference-stage.js';
import { ModelServing } from './model-serving.js';
import { OutputFlusher } from './output-flusher.js';
import { PartitionLane, laneKey } from './partition-lane.js';
import type { PendingRow, ServingVersion } from './serving-version.js';

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
  private codecs!: CodecSet;
  private cache: PredictionCache | undefined;
  private heartbeat: (() => Promise<void>) | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
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
      (version, rows) => this.runBatch(version, rows),
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

  async start(): Promise<void> {
    if (this.state !== 'created') throw new Error(`cannot start a worker that is ${this.state}`);
    this.state = 'starting';
    const { kafka: options } = this.config;
    await this.serving.start();

    this.codecs = await createCodecs(this.config);
    this.cache = createPredictionCache(this.config.cache, this.metrics, this.logger);

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
      this.codecs.encoder,
      this.backoff,
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
    void this.prepare(lane, event, version, shadow);
  }

  /** Decode and featurize; bad input becomes a dead letter, good input joins its version's batch. */
  private async prepare(
    lane: PartitionLane,
    event: InFlightEvent,
    version: ServingVersion,
    shadow: ServingVersion | undefined,
  ): Promise<void> {
    let record: Record<string, unknown>;
    try {
      record = await this.decode(lane, event);
      version.add(this.pendingRow(version, event, record, 'primary'));
    } catch (error) {
      version.release();
      shadow?.release();
      if (error instanceof PoisonInputError) {
        event.outcome = { type: 'dead-letter', error };
        event.shadow = 'none';
        this.flusher.schedule(lane);
      } else {
        // Only when retrying stopped (shutdown or revocation): the event stays uncommitted.
        this.logger.warn(
          { err: errorMessage(error), lane: lane.key, offset: event.offset },
          'event abandoned',
        );
      }
      return;
    }
    if (!shadow) return;
    try {
      shadow.add(this.pendingRow(shadow, event, record, 'shadow'));
    } catch {
      shadow.release();
      event.shadow = 'none'; // the shadow's features reject what the primary accepted
    }
  }

  private pendingRow(
    version: ServingVersion,
    event: InFlightEvent,
    record: Record<string, unknown>,
    role: PendingRow['role'],
  ): PendingRow {
    const row = version.model.featurizer.encode(record);
    const keyField = this.config.cache.keyField;
    const eventId =
      keyField !== undefined && record[keyField] != null ? String(record[keyField]) : undefined;
    const cacheKey = this.cache
      ? predictionCacheKey(this.config.cache.keyPrefix, version.identity, row, eventId)
      : undefined;
    return { event, row, role, cacheKey };
  }

  /** A registry outage is retried with backoff: nothing is dead-lettered or committed past it. */
  private decode(lane: PartitionLane, event: InFlightEvent): Promise<Record<string, unknown>> {
    const decoder = this.codecs.decoderFor(event.topic);
    return retryWithBackoff(async () => decoder.decode(event.value), {
      initialMs: this.config.schemaRegistry?.retryBackoffMs ?? this.backoff.initialMs,
      maxMs: this.backoff.maxMs,
      isRetriable: (error) => error instanceof RetriableError,
      shouldContinue: () => !this.abandoned && !lane.revoked,
      onRetry: (error, attempt, delayMs) => {
        this.metrics.decodeRetries.inc();
        if (attempt % 10 === 0)
          this.logger.warn(
            { err: errorMessage(error), lane: lane.key, delayMs },
            'decode retrying',
          );
      },
    });
  }

  private async runBatch(version: ServingVersion, rows: PendingRow[]): Promise<void> {
    const identity = version.identity;
    const cached = await this.lookUpCache(rows);
    const misses = rows.filter((_, index) => !cached[index]);
    let computed: (Prediction | PoisonInputError)[];
    try {
      computed =
        misses.length > 0
          ? await this.inference.run(
              version.model,
              misses.map((row) => row.row),
            )
          : [];
    } catch (error) {
      // Only reachable when shutdown abandoned retries; those events stay uncommitted.
      this.logger.warn({ err: errorMessage(error), rows: misses.length }, 'batch abandoned');
      return;
    }
    const results = new Map(misses.map((row, index) => [row, computed[index]!]));
    const toCache: [string, Prediction][] = [];
    const touched = new Set<PartitionLane>();
    rows.forEach((row, index) => {
      const result = cached[index] ?? results.get(row)!;
      if (!(result instanceof PoisonInputError) && !cached[index] && row.cacheKey)
        toCache.push([row.cacheKey, result]);
      const { event } = row;
      if (row.role === 'shadow') {
        event.shadow =
          result instanceof PoisonInputError ? 'none' : { prediction: result, model: identity };
      } else {
        event.outcome =
          result instanceof PoisonInputError
            ? { type: 'dead-letter', error: result }
            : { type: 'prediction', prediction: result, model: identity };
      }
      const lane = this.lanes.get(laneKey(event.topic, event.partition));
      if (lane && !lane.revoked) touched.add(lane);
    });
    this.cache?.setMany(toCache);
    for (const lane of touched) this.flusher.schedule(lane);
  }

  /** One lookup per batch; entries are predictions for cached rows, undefined for misses. */
  private async lookUpCache(rows: PendingRow[]): Promise<(Prediction | undefined)[]> {
    if (!this.cache) return rows.map(() => undefined);
    const cached = await this.cache.getMany(rows.map((row) => row.cacheKey!));
    const hits = cached.filter(Boolean).length;
    this.metrics.cacheLookups.inc({ result: 'hit' }, hits);
    this.metrics.cacheLookups.inc({ result: 'miss' }, rows.length - hits);
    return cached;
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
