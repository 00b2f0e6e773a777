import type { ModelOptions } from '../config/worker-config.js';
import { Featurizer } from './featurizer.js';
import { InferencePool, type InferenceStats } from './inference-pool.js';
import { readModelManifest, type ModelManifest } from './model-manifest.js';
import { postprocess, type Prediction } from './postprocessor.js';

/** One model version, loaded, validated and warm: its manifest, featurizer and sessions. */
export class LoadedModel {
  private constructor(
    readonly directory: string,
    readonly manifest: ModelManifest,
    readonly featurizer: Featurizer,
    private readonly pool: InferencePool,
  ) {}

  static async load(
    directory: string,
    options: Omit<ModelOptions, 'path'>,
    onBatch?: (stats: InferenceStats) => void,
  ): Promise<LoadedModel> {
    const manifest = readModelManifest(directory);
    const pool = await InferencePool.start(
      {
        modelDir: directory,
        device: options.device,
        intraOpThreads: options.intraOpThreads,
        debugInferenceDelayMs: options.debugInferenceDelayMs,
      },
      options.inferenceThreads,
      onBatch,
    );
    return new LoadedModel(directory, manifest, new Featurizer(manifest), pool);
  }

  get identity(): { name: string; version: string; provider: string } {
    return { name: this.manifest.name, version: this.manifest.version, provider: this.pool.provider };
  }

  /** Runs rows (row-major, `count` rows) and returns one prediction per row. */
  async predict(rows: Float32Array, count: number): Promise<Prediction[]> {
    const output = await this.pool.run(rows, count);
    return Array.from({ length: count }, (_, index) => postprocess(this.manifest.output, output, index));
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
