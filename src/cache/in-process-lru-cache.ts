import type { Prediction } from '../model/postprocessor.js';
import type { PredictionCache } from './prediction-cache.js';

/**
 * The embedded default when no Redis is configured: a bounded LRU in this process, with TTL.
 * It only helps redeliveries that reach the same worker process.
 */
export class InProcessLruCache implements PredictionCache {
  private readonly entries = new Map<string, { prediction: Prediction; expiresAt: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
  ) {}

  async getMany(keys: string[]): Promise<(Prediction | undefined)[]> {
    const now = Date.now();
    return keys.map((key) => {
      const entry = this.entries.get(key);
      if (!entry) return undefined;
      this.entries.delete(key);
      if (entry.expiresAt <= now) return undefined;
      this.entries.set(key, entry); // most recently used goes last
      return entry.prediction;
    });
  }

  setMany(entries: [string, Prediction][]): void {
    const expiresAt = Date.now() + this.ttlMs;
    for (const [key, prediction] of entries) {
      this.entries.delete(key);
      this.entries.set(key, { prediction, expiresAt });
    }
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(key);
    }
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {
    this.entries.clear();
  }
}
