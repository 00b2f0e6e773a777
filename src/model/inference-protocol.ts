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
}

export type ToThread =
  | { type: 'prepare'; id: number; input: RowInput }
  | { type: 'run'; id: number; rows: ArrayBuffer; batchSize: number }
  | { type: 'close' };

export type FromThread =
  | { type: 'loaded'; provider: string; adapter?: string; warmupMs: number }
  | { type: 'load-failed'; message: string }
  | { type: 'prepared'; id: number; prepared: PreparedRows }
  | { type: 'prepare-failed'; id: number; message: string }
  | { type: 'result'; id: number; output: ArrayBuffer; elapsedMs: number }
  | { type: 'run-failed'; id: number; message: string };
