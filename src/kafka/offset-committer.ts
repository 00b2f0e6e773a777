import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { PartitionLane } from '../pipeline/partition-lane.js';
import type { TopicPartitionOffset } from './transport.js';

export type { TopicPartitionOffset } from './transport.js';

/**
 * Commits each lane's acknowledged prefix, coalesced over a short window. A failed commit is
 * retried at the next tick; commits for revoked lanes are never sent.
 */
export class OffsetCommitter {
  private readonly dirty = new Set<PartitionLane>();
  private timer: NodeJS.Timeout | undefined;
  private inProgress: Promise<void> = Promise.resolve();

  constructor(
    private readonly commit: (offsets: TopicPartitionOffset[]) => Promise<void>,
    private readonly intervalMs: number,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {}

  markDirty(lane: PartitionLane): void {
    this.dirty.add(lane);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.intervalMs);
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
      lanes.forEach((lane, index) => lane.committed(offsets[index]!.offset));
    } catch (error) {
      this.metrics.commits.inc({ result: 'failed' });
      this.logger.warn({ err: errorMessage(error) }, 'offset commit failed; retrying');
      lanes.forEach((lane) => this.markDirty(lane));
    }
  }
}
