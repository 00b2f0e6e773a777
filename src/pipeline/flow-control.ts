import type { FlowControlOptions } from '../config/worker-config.js';
import type { PartitionLane } from './partition-lane.js';

/**
 * Bounds memory: a lane may accept an event only while it and the whole worker are under their
 * in-flight caps. When one is full, intake waits (and with it, fetching) until acknowledgements
 * free room; `waitForRoom` resolves on the next release or after `timeoutMs`.
 */
export class FlowControl {
  private waiters: (() => void)[] = [];

  constructor(private readonly options: FlowControlOptions) {}

  /** How many more events `lane` may accept now. */
  room(lane: PartitionLane, totalInFlight: number): number {
    return Math.max(
      0,
      Math.min(
        this.options.maxInFlightPerPartition - lane.inFlight,
        this.options.maxInFlightTotal - totalInFlight,
      ),
    );
  }

  waitForRoom(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiters = this.waiters;
      function done(): void {
        clearTimeout(timer);
        const index = waiters.indexOf(done);
        if (index >= 0) waiters.splice(index, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  /** In-flight events were acknowledged or dropped: wake whoever waits for room. */
  released(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
