import type { Logger } from 'pino';
import { InferenceError, PoisonInputError, errorMessage } from '../errors.js';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import type { LoadedModel } from '../model/loaded-model.js';
import type { InFlightEvent } from './in-flight-event.js';

/** A featurized event waiting for its batch. */
export interface PendingRow {
  event: InFlightEvent;
  row: Float32Array;
  /** Prediction cache key, when a cache is configured. */
  cacheKey?: string;
}

/**
 * Runs one batch through the model and records each event's outcome. When the model fails on
 * a batch, the batch is split in halves recursively so that only the rows at fault are
 * dead-lettered. A thread crash or closed pool is retriable: the batch is retried as a whole.
 */
export class InferenceStage {
  constructor(
    private readonly model: () => LoadedModel,
    private readonly backoff: BackoffOptions,
    private readonly isRunning: () => boolean,
    private readonly logger: Logger,
  ) {}

  async run(rows: PendingRow[]): Promise<void> {
    const model = this.model();
    try {
      const predictions = await retryWithBackoff(() => model.predict(stack(rows, model), rows.length), {
        ...this.backoff,
        isRetriable: (error) => !(error instanceof InferenceError),
        shouldContinue: this.isRunning,
        onRetry: (error, attempt) =>
          this.logger.warn({ err: errorMessage(error), attempt }, 'inference failed, retrying batch'),
      });
      const identity = model.identity;
      rows.forEach(({ event }, index) => {
        event.outcome = { type: 'prediction', prediction: predictions[index]!, model: identity };
      });
    } catch (error) {
      if (!(error instanceof InferenceError)) throw error;
      if (rows.length === 1) {
        rows[0]!.event.outcome = {
          type: 'dead-letter',
          error: new PoisonInputError('infer', `model failed on this row: ${error.message}`),
        };
        return;
      }
      const half = Math.ceil(rows.length / 2);
      await this.run(rows.slice(0, half));
      await this.run(rows.slice(half));
    }
  }
}

function stack(rows: PendingRow[], model: LoadedModel): Float32Array {
  const width = model.featurizer.width;
  const matrix = new Float32Array(rows.length * width);
  rows.forEach(({ row }, index) => matrix.set(row, index * width));
  return matrix;
}
