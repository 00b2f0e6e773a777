import type { Logger } from 'pino';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import { InferenceError, ModelFaultError, PoisonInputError, errorMessage } from '../errors.js';
import { isRetriable } from '../error-policy.js';
import type { LoadedModel } from '../model/loaded-model.js';
import type { RowResult } from '../model/postprocessor.js';
import type { PreparedRows, RowInput } from '../model/row-input.js';

export type { RowResult } from '../model/postprocessor.js';

/** Rows failing alone in a row, with no success between, that make a model fault. */
export const MODEL_FAULT_STREAK = 3;

/**
 * Runs rows through a model version and tells the rows' fault from the model's:
 * - the batch fails, and the model fails even on an all-zero row: a model fault, at once;
 * - otherwise the batch is split in halves recursively; when some rows succeed, only the rows at
 *   fault fail (poison, stage "infer");
 * - a row the model answers with NaN or ±Infinity fails alone ("non-finite-output"); when every
 *   row of the batch does, the all-zero row decides as above;
 * - when no row succeeds alone, and MODEL_FAULT_STREAK rows in a row have now failed on this
 *   model with no success between, the model is at fault, not the data; for a model something
 *   can replace that has not answered a row yet, at once.
 * A model fault throws ModelFaultError and dead-letters nothing. A retriable failure (a thread
 * crash, a closed pool) retries the batch, or the probe, while `isRunning()` holds.
 */
export class InferenceStage {
  /** Per model: rows that failed alone since its last success. */
  private readonly failedInARow = new WeakMap<LoadedModel, number>();
  /** Models that have answered a real row. */
  private readonly answered = new WeakSet<LoadedModel>();

  constructor(
    private readonly backoff: BackoffOptions,
    private readonly isRunning: () => boolean,
    private readonly logger: Logger,
    /**
     * Whether something can take over from this model (a hot-swapped primary rolls back, a canary
     * is dropped). Until such a model has answered a row, a batch that fails row by row is its
     * fault, not the rows': the version it replaced serves them instead of their going to the DLQ.
     */
    private readonly replaceable: (model: LoadedModel) => boolean = () => false,
  ) {}

  /** Runs `count` rows, row-major in `rows`. */
  async run(model: LoadedModel, rows: Float32Array, count: number): Promise<RowResult[]> {
    let first: RowResult[] | InferenceError;
    try {
      first = await this.predict(model, rows, count);
    } catch (error) {
      if (!(error instanceof InferenceError)) throw error;
      first = error;
    }
    return this.judge(model, rows, count, first);
  }

  /** Tells the rows' fault from the model's, given the first run of the rows (see above). */
  async judge(
    model: LoadedModel,
    rows: Float32Array,
    count: number,
    first: RowResult[] | InferenceError,
  ): Promise<RowResult[]> {
    let results: RowResult[];
    let probed = false;
    if (first instanceof InferenceError) {
      if (!(await this.probe(model)))
        throw modelFault(model, count, first, 'fails on an all-zero row');
      probed = true;
      results = count === 1 ? [rowFault(first)] : await this.bisect(model, rows, count);
    } else {
      results = first;
    }
    if (!results.every((result) => result instanceof PoisonInputError)) {
      this.failedInARow.set(model, 0);
      this.answered.add(model);
      return results;
    }
    const cause = results[0]!;
    if (!probed && !(await this.probe(model))) {
      throw modelFault(model, count, cause, 'answers an all-zero row with NaN or Infinity');
    }
    const streak = (this.failedInARow.get(model) ?? 0) + count;
    this.failedInARow.set(model, streak);
    if (!this.answered.has(model) && this.replaceable(model)) {
      throw modelFault(model, count, cause, `failed on its first ${streak} rows, each alone`);
    }
    if (streak >= MODEL_FAULT_STREAK) {
      throw modelFault(model, count, cause, `failed on ${streak} rows in a row, each alone`);
    }
    return results;
  }

  /**
   * Decodes and featurizes a batch's values in a thread of the model (LoadedModel.prepare),
   * retried like a batch when its thread was lost. No thread left to do it is a model fault.
   */
  prepare(model: LoadedModel, input: RowInput): Promise<PreparedRows> {
    return this.preparing(model, input, () => model.prepare(input));
  }

  /**
   * Prepares and runs a batch in one job of a thread (LoadedModel.prepareAndPredict): the
   * prepared rows, and their first run, for `judge` once the caller has admitted the rows.
   */
  prepareAndPredict(
    model: LoadedModel,
    input: RowInput,
  ): Promise<{ prepared: PreparedRows; first: RowResult[] | InferenceError }> {
    return this.preparing(model, input, async () => {
      const { prepared, results } = await model.prepareAndPredict(input);
      return { prepared, first: results };
    });
  }

  private async preparing<T>(
    model: LoadedModel,
    input: RowInput,
    operation: () => Promise<T>,
  ): Promise<T> {
    try {
      return await this.retrying(operation, 'preparing rows failed, retrying');
    } catch (error) {
      if (!(error instanceof InferenceError)) throw error;
      throw modelFault(model, input.ends.length, error, 'cannot prepare rows');
    }
  }

  /** The all-zero row (LoadedModel.probe), retried like a batch when its thread was lost. */
  private probe(model: LoadedModel): Promise<boolean> {
    return this.retrying(() => model.probe(), 'model probe failed, retrying');
  }

  private async bisect(model: LoadedModel, rows: Float32Array, count: number) {
    const half = Math.ceil(count / 2);
    const split = half * model.featurizer.width;
    return [
      ...(await this.rowsOrFaults(model, rows.subarray(0, split), half)),
      ...(await this.rowsOrFaults(model, rows.subarray(split), count - half)),
    ];
  }

  private async rowsOrFaults(
    model: LoadedModel,
    rows: Float32Array,
    count: number,
  ): Promise<RowResult[]> {
    try {
      return await this.predict(model, rows, count);
    } catch (error) {
      if (!(error instanceof InferenceError)) throw error;
      return count === 1 ? [rowFault(error)] : this.bisect(model, rows, count);
    }
  }

  private predict(model: LoadedModel, rows: Float32Array, count: number): Promise<RowResult[]> {
    return this.retrying(() => model.predict(rows, count), 'inference failed, retrying batch');
  }

  /** Retriable failures (a lost thread, a closed pool) are retried while the worker runs. */
  private retrying<T>(operation: () => Promise<T>, warning: string): Promise<T> {
    return retryWithBackoff(operation, {
      ...this.backoff,
      isRetriable,
      shouldContinue: this.isRunning,
      onRetry: (error, attempt) => this.logger.warn({ err: errorMessage(error), attempt }, warning),
    });
  }
}

function rowFault(error: InferenceError): PoisonInputError {
  return new PoisonInputError('infer', `model failed on this row: ${error.message}`);
}

function modelFault(model: LoadedModel, rows: number, cause: Error, why: string): ModelFaultError {
  const { name, version } = model.identity;
  return new ModelFaultError(
    version,
    rows,
    `model ${name} version ${version} ${why}: ${cause.message}`,
    { cause },
  );
}
