import { MicroBatcher } from '../batch/micro-batcher.js';
import type { BatchingOptions } from '../config/worker-config.js';
import type { LoadedModel } from '../model/loaded-model.js';
import type { InFlightEvent } from './in-flight-event.js';

/** A featurized event waiting for its batch on one model version. */
export interface PendingRow {
  event: InFlightEvent;
  row: Float32Array;
  /** "primary" rows answer the event; "shadow" rows only feed the shadow topic. */
  role: 'primary' | 'shadow';
  /** Prediction cache key, when a cache is configured. */
  cacheKey?: string;
}

/**
 * One loaded model version with its own batcher: rows featurized for a version are batched and
 * run only on that version, so a swap never mixes row layouts in one call.
 */
export class ServingVersion {
  readonly batcher: MicroBatcher<PendingRow>;
  private running = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly model: LoadedModel,
    batching: BatchingOptions,
    onBatch: (version: ServingVersion, rows: PendingRow[]) => Promise<void>,
  ) {
    this.batcher = new MicroBatcher(batching, (rows) => {
      this.running++;
      void onBatch(this, rows).finally(() => {
        if (--this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    });
  }

  get identity(): { name: string; version: string; provider: string } {
    return this.model.identity;
  }

  /** Cuts what is pending, lets in-flight batches finish, then releases the sessions. */
  async retire(): Promise<void> {
    this.batcher.cut();
    if (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.model.close();
  }
}
