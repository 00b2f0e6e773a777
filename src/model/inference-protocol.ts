/** Messages between the main thread and an inference thread. */

export interface LoadRequest {
  modelDir: string;
  device: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  intraOpThreads: number;
  debugInferenceDelayMs: number;
  /** The process's WebGPU lock (device-lock.ts), shared by every inference thread. */
  deviceLock: SharedArrayBuffer;
}

export type ToThread =
  { type: 'run'; id: number; rows: ArrayBuffer; batchSize: number } | { type: 'close' };

export type FromThread =
  | { type: 'loaded'; provider: string; adapter?: string; warmupMs: number }
  | { type: 'load-failed'; message: string }
  | { type: 'result'; id: number; output: ArrayBuffer; elapsedMs: number }
  | { type: 'run-failed'; id: number; message: string };
