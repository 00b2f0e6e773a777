import type { Logger } from 'pino';
import type { PredictionCache } from '../cache/prediction-cache.js';
import { PoisonInputError, errorMessage } from '../errors.js';
import type { Prediction } from '../model/postprocessor.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { InFlightEvent } from './in-flight-event.js';
import type { InferenceStage } from './inference-stage.js';
import type { PartitionLane } from './partition-lane.js';
import type { PendingRow, ServingVersion } from './serving-version.js';

/**
 * Runs one cut batch of a model version: one cache lookup, inference for the misses, each
 * event's outcome (or shadow answer) set, misses stored in the background, and the lanes whose
 * heads may now be complete handed to the flusher.
 */
export class BatchExecution {
  constructor(
    private readonly inference: InferenceStage,
    private readonly cache: PredictionCache | undefined,
    /** The live lane of an event; undefined once its partition was revoked. */
    private readonly laneOf: (event: InFlightEvent) => PartitionLane | undefined,
    private readonly onOutcomes: (lane: PartitionLane) => void,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {}

  async run(version: ServingVersion, rows: PendingRow[]): Promise<void> {
    const identity = version.identity;
    const cached = await this.lookUp(rows);
    const misses = rows.filter((_, index) => !cached[index]);
    let computed: (Prediction | PoisonInputError)[] = [];
    try {
      if (misses.length > 0) {
        computed = await this.inference.run(
          version.model,
          misses.map((row) => row.row),
        );
      }
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
      const failed = result instanceof PoisonInputError;
      if (!failed && !cached[index] && row.cacheKey) toCache.push([row.cacheKey, result]);
      const { event } = row;
      if (row.role === 'shadow') {
        event.shadow = failed ? 'none' : { prediction: result, model: identity };
      } else {
        event.outcome = failed
          ? { type: 'dead-letter', error: result }
          : { type: 'prediction', prediction: result, model: identity };
      }
      const lane = this.laneOf(event);
      if (lane) touched.add(lane);
    });
    this.cache?.setMany(toCache);
    for (const lane of touched) this.onOutcomes(lane);
  }

  /** One lookup per batch; entries are predictions for cached rows, undefined for misses. */
  private async lookUp(rows: PendingRow[]): Promise<(Prediction | undefined)[]> {
    if (!this.cache) return rows.map(() => undefined);
    const cached = await this.cache.getMany(rows.map((row) => row.cacheKey!));
    const hits = cached.filter(Boolean).length;
    this.metrics.cacheLookups.inc({ result: 'hit' }, hits);
    this.metrics.cacheLookups.inc({ result: 'miss' }, rows.length - hits);
    return cached;
  }
}
