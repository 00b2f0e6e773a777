import type { Logger } from 'pino';
import { backoffDelay, type BackoffOptions } from '../batch/backoff.js';
import { errorMessage } from '../errors.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { PartitionLane } from './partition-lane.js';
import type { TopicPartitionOffset } from '../kafka/transport.js';

export type { TopicPartitionOffset } from '../kafka/transport.js';

/**
 * Commits each lane's acknowledged prefix, coalesced over a short window. A failed commit is
 * retried with backoff and jitter (never sooner than the interval), with the latest offsets, and
 * warned about at the 1st, 2nd, 4th, 8th … failure in a row; commits for revoked lanes are never
 * sent.
 */
export class OffsetCommitter {
  private readonly dirty = new Set<PartitionLane>();
  private timer: NodeJS.Timeout | undefined;
  private inProgress: Promise<void> = Promise.resolve();
  /** Failed commits since the last one that succeeded. */
  private failuresInARow = 0;

  constructor(
    private readonly commit: (offsets: TopicPartitionOffset[]) => Promise<void>,
    private readonly intervalMs: number,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
    /** Waits after failed commits; default: from the interval, up to 10 s. */
    private readonly backoff: BackoffOptions = { initialMs: intervalMs, maxMs: 10_000 },
  ) {}

  markDirty(lane: PartitionLane): void {
    this.dirty.add(lane);
    this.schedule(this.intervalMs);
  }

  private schedule(delayMs: number): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
  }

  /** Commits everything acknowledged so far; resolves when that commit has finished. */
  flush(): Promise<void> {
    this.inProgress = this.inProgress.then(() => this.commitDirty());
    return this.inProgress;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async commitDirty(): Promise<void> {
    const lanes = [...this.dirty].filter(
      (lane) => !lane.revoked && lane.commitOffset !== undefined,
    );
    this.dirty.clear();
    if (lanes.length === 0) return;
    const offsets = lanes.map((lane) => ({
      topic: lane.topic,
      partition: lane.partition,
      offset: lane.commitOffset!,
    }));
    try {
      await this.commit(offsets);
      this.metrics.commits.inc({ result: 'ok' });
      this.failuresInARow = 0;
      lanes.forEach((lane, index) => lane.committed(offsets[index]!.offset));
    } catch (error) {
      this.metrics.commits.inc({ result: 'failed' });
      const failures = ++this.failuresInARow;
      const delayMs = Math.max(this.intervalMs, backoffDelay(failures - 1, this.backoff));
      if ((failures & (failures - 1)) === 0) {
        this.logger.warn(
          { err: errorMessage(error), failuresInARow: failures, retryInMs: delayMs },
          'offset commit failed; retrying with backoff',
        );
      }
      for (const lane of lanes) this.dirty.add(lane);
      this.schedule(delayMs);
    }
  }
}
