import * as crypto from 'node:crypto';
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
      : sha256(new Uint8Array(row.buffer, row.byteOffset, row.byteLength));
  return `${prefix}:${model.name}:${model.version}:${identity}`;
}

/** One-shot hashing (Node ≥ 20.12) skips the Hash object a row key would otherwise allocate. */
function sha256(bytes: Uint8Array): string {
  return typeof crypto.hash === 'function'
    ? crypto.hash('sha256', bytes, 'base64url')
    : crypto.createHash('sha256').update(bytes).digest('base64url');
}
