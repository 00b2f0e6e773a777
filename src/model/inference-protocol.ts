/** Messages between the main thread and an inference thread. */
import type { PreparedRows, RowInput } from './row-input.js';
import type { RowPreparationOptions } from './row-preparation.js';

export interface LoadRequest {
  modelDir: string;
  device: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  intraOpThreads: number;
  debugInferenceDelayMs: number;
  /** The process's WebGPU lock (device-lock.ts), shared by every inference thread. */
  deviceLock: SharedArrayBuffer;
  /** How the thread decodes and featurizes a batch's values. */
  preparation: RowPreparationOptions;
  /** Runs are padded to the smallest preferred batch size that holds them (model.json). */
  padToPreferredBatchSize: boolean;
}

export type ToThread =
  /** With `run`, the prepared rows are run at once, in the same job: one hop per batch. */
  | { type: 'prepare'; id: number; input: RowInput; run: boolean }
  | { type: 'run'; id: number; rows: ArrayBuffer; batchSize: number }
  | { type: 'close' };

export type FromThread =
  | { type: 'loaded'; provider: string; adapter?: string; warmupMs: number }
  | { type: 'load-failed'; message: string }
  | {
      type: 'prepared';
      id: number;
      prepared: PreparedRows;
      /** With `run`: the output tensor of the prepared rows, or why the run failed. */
      output?: ArrayBuffer;
      runError?: string;
      elapsedMs?: number;
    }
  | { type: 'prepare-failed'; id: number; message: string }
  | { type: 'result'; id: number; output: ArrayBuffer; elapsedMs: number }
  | { type: 'run-failed'; id: number; message: string };
