import type { ModelOptions } from '../config/worker-config.js';
import { Featurizer } from './featurizer.js';
import { InferencePool, type InferenceStats } from './inference-pool.js';
import { readModelManifest, type ModelManifest } from './model-manifest.js';
import { InferenceError } from '../errors.js';
import { postprocess, type RowResult } from './postprocessor.js';
import type { PreparedRows, RowInput } from './row-input.js';
import type { RowPreparationOptions } from './row-preparation.js';

/** The process's WebGPU lock (device-lock.ts), shared by the inference threads of every version. */
const WEBGPU_LOCK = new SharedArrayBuffer(4);

/** Which model answered: it names the output headers and the cache keys. */
export interface ModelIdentity {
  name: string;
  version: string;
  provider: string;
}

/** One model version, loaded, validated and warm: its manifest, featurizer and sessions. */
export class LoadedModel {
  private cachedIdentity: ModelIdentity | undefined;

  private constructor(
    readonly directory: string,
    readonly manifest: ModelManifest,
    readonly featurizer: Featurizer,
    private readonly pool: InferencePool,
  ) {}

  static async load(
    directory: string,
    options: Pick<
      ModelOptions,
      'device' | 'intraOpThreads' | 'inferenceThreads' | 'debugInferenceDelayMs'
    > & {
      padToPreferredBatchSize?: boolean;
      /** How its threads decode and featurize batches; default: JSON or Avro, nothing else. */
      preparation?: RowPreparationOptions;
    },
    onBatch?: (stats: InferenceStats) => void,
    /** A dead inference thread could not be replaced (it is tried again with backoff). */
    onThreadError?: (error: Error) => void,
  ): Promise<LoadedModel> {
    const manifest = readModelManifest(directory);
    const pool = await InferencePool.start(
      {
        modelDir: directory,
        device: options.device,
        intraOpThreads: options.intraOpThreads,
        debugInferenceDelayMs: options.debugInferenceDelayMs,
        deviceLock: WEBGPU_LOCK,
        preparation: options.preparation ?? {},
        padToPreferredBatchSize: options.padToPreferredBatchSize ?? false,
      },
      options.inferenceThreads,
      onBatch,
      onThreadError,
    );
    return new LoadedModel(directory, manifest, new Featurizer(manifest), pool);
  }

  /** Fixed once loaded (the provider is known then), so it can key per-model caches. */
  get identity(): ModelIdentity {
    this.cachedIdentity ??= {
      name: this.manifest.name,
      version: this.manifest.version,
      provider: this.pool.provider,
    };
    return this.cachedIdentity;
  }

  /** How many batches it can run at once (its inference threads). */
  get threads(): number {
    return this.pool.threads;
  }

  /** WebGPU only: what can be behind the adapter (hardware, or a CPU-emulated device). */
  get adapter(): string | undefined {
    return this.pool.adapter;
  }

  /** Decodes and featurizes a batch's values in one of its threads (row-preparation.ts). */
  async prepare(input: RowInput): Promise<PreparedRows> {
    return (await this.pool.prepare(input, false)).prepared;
  }

  /**
   * Decodes, featurizes and runs a batch in one job of a thread: the prepared rows, and their
   * results, or the InferenceError their run failed with (the caller tells the rows' fault from
   * the model's on the prepared rows).
   */
  async prepareAndPredict(
    input: RowInput,
  ): Promise<{ prepared: PreparedRows; results: RowResult[] | InferenceError }> {
    const { prepared, output, runError } = await this.pool.prepare(input, true);
    if (prepared.count === 0) return { prepared, results: [] };
    return {
      prepared,
      results: output ? this.resultsOf(output, prepared.count) : new InferenceError(runError!),
    };
  }

  /** Runs rows (row-major, `count` rows): one prediction per row, or why that row has none. */
  async predict(rows: Float32Array, count: number): Promise<RowResult[]> {
    return this.resultsOf(await this.pool.run(rows, count), count);
  }

  private resultsOf(output: Float32Array, count: number): RowResult[] {
    return Array.from({ length: count }, (_, index) =>
      postprocess(this.manifest.output, output, index),
    );
  }

  /**
   * Runs one all-zero row, the shape the session was warmed on: false when the model fails on
   * even that, or answers it with NaN or ±Infinity, so the model or its device is at fault
   * rather than the rows of a failed batch. Other failures (a thread that exited, a closed pool)
   * say nothing about the model: they are thrown, for the caller's retry.
   */
  async probe(): Promise<boolean> {
    try {
      const output = await this.pool.run(new Float32Array(this.featurizer.width), 1);
      return output.every(Number.isFinite);
    } catch (error) {
      if (error instanceof InferenceError) return false;
      throw error;
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
