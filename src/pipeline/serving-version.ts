import { MicroBatcher } from '../batch/micro-batcher.js';
import type { BatchingOptions } from '../config/worker-config.js';
import type { LoadedModel } from '../model/loaded-model.js';
import type { ValueFormat } from '../model/row-input.js';
import type { VersionMonitoring } from '../observability/version-monitoring.js';
import type { InFlightEvent } from './in-flight-event.js';

/**
 * An admitted event waiting for its batch on one model version. Its value is decoded and
 * featurized with the batch, in an inference thread of that version.
 */
export interface PendingRow {
  event: InFlightEvent;
  /** "primary" rows answer the event; "shadow" rows only feed the shadow topic. */
  role: 'primary' | 'shadow';
  format: ValueFormat;
  /** Avro: the writer schema id, resolved before the row joined (writer-schemas.ts). */
  schemaId?: number;
  /** Its defaulted and out-of-range fields are counted (once per event, by its primary). */
  countQuality: boolean;
  /** Prediction cache key, when a cache is configured (made with the row's features). */
  cacheKey?: string;
}

/**
 * One loaded model version with its own batcher: rows for a version are batched, featurized and
 * run only on that version, so a swap never mixes row layouts in one call. An event is reserved
 * on a version when it is routed (in offset order), before it is admitted (an Avro schema may
 * still be resolving); retiring waits for every reservation to be added or released, and every
 * batch to finish.
 */
export class ServingVersion {
  private readonly batcher: MicroBatcher<PendingRow>;
  private reserved = 0;
  private running = 0;
  private retiring = false;
  private settledWaiters: (() => void)[] = [];

  constructor(
    readonly model: LoadedModel,
    batching: BatchingOptions,
    onBatch: (version: ServingVersion, batch: PendingRow[]) => Promise<void>,
    /** Drift and data quality, as the version's model.json declares them. */
    readonly monitoring: VersionMonitoring = { quality: { add() {} } },
  ) {
    this.batcher = new MicroBatcher<PendingRow>(
      batching,
      (batch) => {
        this.running++;
        void onBatch(this, batch).finally(() => {
          this.running--;
          this.batcher.runnerFreed();
          this.wakeIfSettled();
        });
      },
      // A thread of this version is idle: it takes a batch at once instead of waiting for more.
      () => this.running < model.threads,
    );
  }

  get identity(): { name: string; version: string; provider: string } {
    return this.model.identity;
  }

  /** A routed event will bring a row (add) or none (release). */
  reserve(): void {
    this.reserved++;
  }

  /** Adds a reserved event's row to the batch being formed. */
  add(row: PendingRow): void {
    this.batcher.add(row);
    this.reserved--;
    if (this.retiring) this.batcher.cut(); // no new rows will join: do not wait for the delay
    this.wakeIfSettled();
  }

  release(): void {
    this.reserved--;
    this.wakeIfSettled();
  }

  /** Cuts the batch being formed now (shutdown drains without waiting for the delay). */
  cut(): void {
    this.batcher.cut();
  }

  /** Lets reserved rows arrive and every batch finish, then releases the sessions. */
  async retire(): Promise<void> {
    this.retiring = true;
    this.batcher.cut();
    while (this.reserved > 0 || this.running > 0 || this.batcher.size > 0) {
      await this.nextSettle();
      this.batcher.cut();
    }
    await this.model.close();
  }

  /**
   * Shutdown, after the final commit: nothing a batch answers now could be committed, so batches
   * still queued are not run. The sessions close at once (queued batches fail as retriable, and
   * their events stay uncommitted for the next owner), then the batches under way end.
   */
  async stop(): Promise<void> {
    this.retiring = true;
    this.batcher.cut();
    await this.model.close();
    while (this.running > 0) await this.nextSettle();
  }

  /** Resolves when a row is added or released, or a batch ends. */
  private nextSettle(): Promise<void> {
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  private wakeIfSettled(): void {
    for (const wake of this.settledWaiters.splice(0)) wake();
  }
}
