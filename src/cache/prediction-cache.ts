import { createHash } from 'node:crypto';
import type { Prediction } from '../model/postprocessor.js';

/**
 * Where predictions of inputs seen before are kept, so that a redelivered event costs nothing
 * and gets the same answer. Lookups fail open: an unavailable cache answers "miss", never throws.
 */
export interface PredictionCache {
  /** One entry per key: the cached prediction, or undefined on a miss (or cache failure). */
  getMany(keys: string[]): Promise<(Prediction | undefined)[]>;
  /** Stores entries in the background; failures are counted and logged, never thrown. */
  setMany(entries: [string, Prediction][]): void;
  /** Resolves once the cache can answer, or after `timeoutMs` (then it fails open). */
  ready(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The cache key names the model version, so a hit is always what this version would answer, and
 * either the event's own id (when configured) or a hash of its canonical feature row.
 */
export function predictionCacheKey(
  prefix: string,
  model: { name: string; version: string },
  row: Float32Array,
  eventId?: string,
): string {
  const identity =
    eventId !== undefined
      ? `id:${eventId}`
      : createHash('sha256')
          .update(new Uint8Array(row.buffer, row.byteOffset, row.byteLength))
          .digest('base64url');
  return `${prefix}:${model.name}:${model.version}:${identity}`;
}
