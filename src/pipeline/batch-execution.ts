import type { Logger } from 'pino';
import { RowBatch } from '../batch/row-batch.js';
import type { PredictionCache } from '../cache/prediction-cache.js';
import type { WriterSchemas } from '../codec/writer-schemas.js';
import { ModelFaultError, PoisonInputError, errorMessage } from '../errors.js';
import { classifyFailure } from '../error-policy.js';
import { epochMs } from '../observability/epoch-time.js';
import type { EventTracing } from '../observability/event-tracing.js';
import type { Prediction } from '../model/postprocessor.js';
import { packRowInput, type PreparedRows } from '../model/row-input.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { ObserverGuard } from '../observability/observer-guard.js';
import type { InferenceStage, RowResult } from './inference-stage.js';
import type { PendingRow, ServingVersion } from './serving-version.js';

/** Rows of a batch that drift tracking counts, at most (evenly spaced). */
const DRIFT_ROWS_PER_BATCH = 32;

/** What a batch's end means for the rest of the worker. */
export interface BatchOutcomeHandlers {
  /** The batch ran (the model answers). */
  onSucceeded(): void;
  /** The model failed, not the rows: they are handed over whole, nothing is dead-lettered. */
  onModelFault(version: ServingVersion, rows: PendingRow[], error: ModelFaultError): Promise<void>;
  /** A failure no retry fixes: the worker stops. */
  onFatal(error: unknown): void;
}

/**
 * Runs one cut batch of a model version: its values packed into one buffer and decoded and
 * featurized by an inference thread (the poison rows get their dead letters), one cache lookup,
 * inference for the misses, each event's outcome (or shadow answer) settled through its lane,
 * misses stored in the background. Failures go by their class (error-policy.ts).
 */
export class BatchExecution {
  constructor(
    private readonly inference: InferenceStage,
    private readonly cache: PredictionCache | undefined,
    private readonly handlers: BatchOutcomeHandlers,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
    /** Runs the hot path's observers (drift, tracing): a failing one never fails the batch. */
    private readonly observers: ObserverGuard,
    /** Avro input: the writer schemas the threads decode with. */
    private readonly writerSchemas: WriterSchemas | undefined,
    private readonly tracing?: EventTracing,
  ) {}

  /** Failures are classified inside; one that still escapes is a bug, and the worker stops. */
  run(version: ServingVersion, items: PendingRow[]): Promise<void> {
    return this.execute(version, items).catch((error: unknown) => this.handlers.onFatal(error));
  }

  private async execute(version: ServingVersion, items: PendingRow[]): Promise<void> {
    const started = performance.now();
    // Once per batch, its oldest row: per-row observations would cost more than they tell.
    let oldest = started;
    for (const row of items) if (row.event.acceptedAt < oldest) oldest = row.event.acceptedAt;
    this.metrics.queueWait.observe((started - oldest) / 1000);
    let batch: RowBatch<PendingRow> | undefined;
    let cached: (Prediction | undefined)[];
    let misses: number[] = [];
    let computed: RowResult[] = [];
    try {
      const schemas = this.writerSchemas;
      const input = packRowInput(items, (id) => schemas?.known(id));
      const model = version.model;
      if (this.cache) {
        // The cache is keyed by the features: prepare, look up, run the misses.
        batch = this.admitPrepared(version, items, await this.inference.prepare(model, input));
        if (batch.size === 0) return; // every row was poison
        cached = await this.lookUp(batch.items);
        for (let index = 0; index < batch.size; index++) if (!cached[index]) misses.push(index);
        if (misses.length > 0) {
          const rows = misses.length === batch.size ? batch.rows() : gather(batch, misses);
          computed = await this.inference.run(model, rows, misses.length);
        }
      } else {
        // One job of a thread decodes, featurizes and runs the batch: one hop per batch.
        const { prepared, first } = await this.inference.prepareAndPredict(model, input);
        batch = this.admitPrepared(version, items, prepared);
        if (batch.size === 0) return;
        cached = new Array<undefined>(batch.size);
        misses = Array.from({ length: batch.size }, (_, index) => index);
        computed = await this.inference.judge(model, batch.rows(), batch.size, first);
      }
    } catch (error) {
      // Before admission every row is the batch's; after it, the poison ones have their outcome.
      await this.failed(version, batch?.items ?? items, error);
      return;
    }
    const rows = batch.items;
    // A sample of each batch is as good a picture of the inputs, and its cost stays flat.
    const stride = Math.ceil(rows.length / DRIFT_ROWS_PER_BATCH);
    const drift = version.monitoring.features;
    if (drift) {
      const admitted = batch;
      this.observers.run('drift', () =>
        drift.observe(admitted.rows(), rows.length, admitted.width, stride),
      );
    }
    this.handlers.onSucceeded();
    if (this.tracing) {
      this.observers.run('tracing', () => this.traceInference(version, rows, epochMs(started)));
    }
    this.settle(version, rows, cached, misses, computed, stride);
  }

  /**
   * Applies what the thread made of the rows: poison rows get their dead letters (a shadow's,
   * no shadow answer), the data-quality counts are added, and the rest form the batch, with
   * their feedback ids and cache keys.
   */
  private admitPrepared(
    version: ServingVersion,
    items: PendingRow[],
    prepared: PreparedRows,
  ): RowBatch<PendingRow> {
    version.monitoring.quality.add(prepared.defaulted, prepared.outOfRange);
    const { failures, feedbackIds, cacheKeys } = prepared;
    const rows: PendingRow[] = [];
    let next = 0;
    const tracing = this.tracing;
    if (tracing) this.observers.run('tracing', () => traceDecode(tracing, items));
    for (let index = 0; index < items.length; index++) {
      const row = items[index]!;
      const { event } = row;
      const failure = failures[next];
      if (failure?.index === index) {
        next++;
        if (row.role === 'shadow') {
          // The shadow's features reject what the primary may accept.
          event.lane.settleShadow(event, 'none');
        } else {
          const error = new PoisonInputError(failure.stage, failure.message, {
            reason: failure.reason,
          }).at({ topic: event.topic, partition: event.partition, offset: event.offset });
          event.lane.settle(event, { type: 'dead-letter', error });
        }
        continue;
      }
      if (row.role === 'primary' && feedbackIds) event.feedbackId = feedbackIds[index];
      if (cacheKeys) row.cacheKey = cacheKeys[index];
      rows.push(row);
    }
    return new RowBatch(rows, prepared.rows, version.model.featurizer.width);
  }

  private traceInference(version: ServingVersion, rows: PendingRow[], startedAt: number): void {
    const attributes = {
      'inference.batch_size': rows.length,
      'model.name': version.identity.name,
      'model.version': version.identity.version,
    };
    for (const { event, role } of rows) {
      if (event.span && role === 'primary') {
        this.tracing!.child(event.span, 'inference', startedAt, attributes);
      }
    }
  }

  private async failed(version: ServingVersion, rows: PendingRow[], error: unknown) {
    const failure = classifyFailure(error);
    if (error instanceof ModelFaultError) {
      await this.handlers.onModelFault(version, rows, error);
    } else if (failure === 'retriable') {
      // Only when shutdown gave up retrying: these events stay uncommitted.
      this.logger.warn({ err: errorMessage(error), rows: rows.length }, 'batch abandoned');
    } else {
      this.handlers.onFatal(error);
    }
  }

  private settle(
    version: ServingVersion,
    rows: PendingRow[],
    cached: (Prediction | undefined)[],
    misses: number[],
    computed: RowResult[],
    stride: number,
  ): void {
    const identity = version.identity;
    const results: (RowResult | undefined)[] = cached.slice();
    misses.forEach((index, position) => (results[index] = computed[position]));
    const outputDrift = version.monitoring.output;
    if (outputDrift) this.observers.run('drift', () => outputDrift.observe(results, stride));
    const toCache: [string, Prediction][] = [];
    for (let index = 0; index < rows.length; index++) {
      const row = rows[index]!;
      const result = results[index]!;
      const failed = result instanceof PoisonInputError;
      if (!failed && !cached[index] && row.cacheKey) toCache.push([row.cacheKey, result]);
      const { event } = row;
      if (row.role === 'shadow') {
        event.lane.settleShadow(event, failed ? 'none' : { prediction: result, model: identity });
      } else {
        event.lane.settle(
          event,
          failed
            ? { type: 'dead-letter', error: result }
            : { type: 'prediction', prediction: result, model: identity },
        );
      }
    }
    if (toCache.length > 0) this.cache?.setMany(toCache);
  }

  /** One lookup per batch; entries are predictions for cached rows, undefined for misses. */
  private async lookUp(rows: PendingRow[]): Promise<(Prediction | undefined)[]> {
    if (!this.cache) return new Array<undefined>(rows.length);
    const cached = await this.cache.getMany(rows.map((row) => row.cacheKey!));
    const hits = cached.filter(Boolean).length;
    this.metrics.cacheLookups.inc({ result: 'hit' }, hits);
    this.metrics.cacheLookups.inc({ result: 'miss' }, rows.length - hits);
    return cached;
  }
}

/** A "decode" span per answered event, from its acceptance to its batch's preparation. */
function traceDecode(tracing: EventTracing, items: PendingRow[]): void {
  for (const { event, role } of items) {
    if (event.span && role === 'primary') {
      tracing.child(event.span, 'decode', epochMs(event.acceptedAt));
    }
  }
}

/** The rows at `indexes`, copied together into one input matrix. */
function gather(batch: RowBatch<PendingRow>, indexes: number[]): Float32Array {
  const matrix = new Float32Array(indexes.length * batch.width);
  indexes.forEach((index, position) => matrix.set(batch.row(index), position * batch.width));
  return matrix;
}
