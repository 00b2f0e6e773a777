import type { Logger } from 'pino';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import { InferenceError, PoisonInputError, errorMessage } from '../errors.js';
import type { LoadedModel } from '../model/loaded-model.js';
import type { Prediction } from '../model/postprocessor.js';

/** One row's result: its prediction, or why the model could not predict it. */
export type RowResult = Prediction | PoisonInputError;

/**
 * Runs rows through a model version. When the model fails on a batch, the batch is split in
 * halves recursively so that only the rows at fault fail (stage "infer"). A thread crash or a
 * closed pool is retriable: the batch is retried as a whole while `isRunning()` holds.
 */
export class InferenceStage {
  constructor(
    private readonly backoff: BackoffOptions,
    private readonly isRunning: () => boolean,
    private readonly logger: Logger,
  ) {}

  /** Runs `count` rows, row-major in `rows`. */
  async run(model: LoadedModel, rows: Float32Array, count: number): Promise<RowResult[]> {
    try {
      return await retryWithBackoff(() => model.predict(rows, count), {
        ...this.backoff,
        isRetriable: (error) => !(error instanceof InferenceError),
        shouldContinue: this.isRunning,
        onRetry: (error, attempt) =>
          this.logger.warn(
            { err: errorMessage(error), attempt },
            'inference failed, retrying batch',
          ),
      });
    } catch (error) {
      if (!(error instanceof InferenceError)) throw error;
      if (count === 1)
        return [new PoisonInputError('infer', `model failed on this row: ${error.message}`)];
      const half = Math.ceil(count / 2);
      const split = half * model.featurizer.width;
      return [
        ...(await this.run(model, rows.subarray(0, split), half)),
        ...(await this.run(model, rows.subarray(split), count - half)),
      ];
    }
  }
}
