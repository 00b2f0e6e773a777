import type { Logger } from 'pino';
import { backoffDelay, type BackoffOptions } from '../batch/backoff.js';
import type { ModelFaultError } from '../errors.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { InFlightEvent } from './in-flight-event.js';
import type { PendingRow, ServingVersion } from './serving-version.js';

export interface ModelFaultCircuitOptions {
  backoff: BackoffOptions;
  /**
   * Takes a faulted version out of service where something can replace it (a hot-swapped primary
   * rolls back, a canary or a shadow is dropped); resolves with where its rows go next, or
   * undefined when it stays (they run on it again after a backoff).
   */
  fallbackFor: (version: ServingVersion) => Promise<ServingVersion | undefined>;
  /** Decodes and featurizes the event again for `version` (reserved on it already) and adds it. */
  admitAgain: (event: InFlightEvent, version: ServingVersion) => void;
  /** False once shutdown has given up on in-flight work. */
  keepRetrying: () => boolean;
  /** The circuit closed: intake may go on. */
  onClosed: () => void;
  metrics: WorkerMetrics;
  logger: Logger;
}

/**
 * A model fault is not bad input: nothing is dead-lettered. The circuit opens (intake stops, the
 * worker is not ready), the faulted batch's events are routed again, to the version the fault
 * falls back to (at once) or to the same version (after a backoff that grows with each fault in a
 * row), and the circuit closes when any batch succeeds again.
 */
export class ModelFaultCircuit {
  private consecutiveFaults = 0;
  private readonly shadowsWarned = new WeakSet<ServingVersion>();

  constructor(private readonly options: ModelFaultCircuitOptions) {}

  get open(): boolean {
    return this.consecutiveFaults > 0;
  }

  /** A batch succeeded: the model answers again. */
  succeeded(): void {
    if (!this.open) return;
    this.options.logger.info(
      { faults: this.consecutiveFaults },
      'model answers again; circuit closed, intake resumes',
    );
    this.consecutiveFaults = 0;
    this.options.metrics.modelCircuitOpen.set(0);
    this.options.onClosed();
  }

  /** Takes over the rows of a batch that failed as a model fault on `version`. */
  async faulted(
    version: ServingVersion,
    rows: PendingRow[],
    error: ModelFaultError,
  ): Promise<void> {
    const { metrics, logger } = this.options;
    const { name, version: number } = version.identity;
    metrics.modelFaults.inc({ model: name, version: number });
    const fallback = this.options.fallbackFor(version);
    if (rows.every((row) => row.role === 'shadow')) {
      // A shadow answers nobody: its rows are given up and the primary goes on.
      if (!this.shadowsWarned.has(version)) {
        this.shadowsWarned.add(version);
        logger.warn(
          { err: error.message, model: name, version: number },
          'shadow model fault: its rows are given up (inference_model_faults_total counts them)',
        );
      }
      for (const row of rows) this.dropShadow(row.event);
      await fallback;
      return;
    }
    this.consecutiveFaults++;
    metrics.modelCircuitOpen.set(1);
    logger.error(
      { err: error.message, model: name, version: number, rows: rows.length },
      'model fault: circuit open, intake stopped, no dead letters; the batch will run again',
    );
    const primaries = rows.filter((row) => !row.event.lane.revoked);
    let target = (await fallback) ?? version;
    primaries.forEach(() => target.reserve()); // keeps the target from retiring meanwhile
    if (target === version) {
      // Nothing replaced it: run them again after a backoff, on whatever serves then (a good
      // version may have been swapped in meanwhile).
      await this.wait(this.consecutiveFaults - 1);
      const now = (await this.options.fallbackFor(version)) ?? version;
      if (now !== target) {
        primaries.forEach(() => now.reserve());
        primaries.forEach(() => target.release());
        target = now;
      }
    }
    for (const { event } of primaries) {
      if (this.options.keepRetrying() && !event.lane.revoked) {
        this.options.admitAgain(event, target);
      } else {
        target.release(); // left uncommitted: redelivered to the next owner or after restart
      }
    }
  }

  private dropShadow(event: InFlightEvent): void {
    event.lane.settleShadow(event, 'none');
  }

  private async wait(attempt: number): Promise<void> {
    const until = Date.now() + backoffDelay(attempt, this.options.backoff);
    // Wakes early when shutdown gives up, so the stop is not held by a long backoff.
    while (Date.now() < until && this.options.keepRetrying()) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, until - Date.now())));
    }
  }
}
