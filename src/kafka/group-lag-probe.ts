import { errorMessage } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import {
  partitionKey,
  type ClusterAdmin,
  type PartitionLag,
  type TopicPartition,
} from './transport.js';

/** How often the probe asks the brokers; lag is a trend, and each ask is two admin requests. */
const PROBE_INTERVAL_MS = 10_000;

/**
 * The group's lag on every partition this member is assigned, from the brokers (end offsets
 * minus the group's committed offsets), asked every 10 s off the hot path. A partition that
 * gets no traffic fetches nothing, so only this keeps its lag series (0, or what it still owes)
 * alive for the alerts and dashboards.
 */
export class GroupLagProbe {
  private readonly assigned = new Map<string, TopicPartition>();
  private lags = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private failuresWarned = false;

  constructor(
    private readonly admin: ClusterAdmin,
    private readonly logger: Logger,
  ) {}

  assignedPartitions(partitions: TopicPartition[]): void {
    for (const tp of partitions) this.assigned.set(partitionKey(tp), tp);
    this.timer ??= setInterval(() => void this.probe(), PROBE_INTERVAL_MS).unref();
    void this.probe();
  }

  revokedPartitions(partitions: TopicPartition[]): void {
    for (const tp of partitions) {
      this.assigned.delete(partitionKey(tp));
      this.lags.delete(partitionKey(tp));
    }
  }

  /** The last lag known for each assigned partition. */
  *current(): Iterable<PartitionLag> {
    for (const [key, tp] of this.assigned) {
      const lag = this.lags.get(key);
      if (lag !== undefined) yield { ...tp, lag };
    }
  }

  /** Stops asking; the admin client belongs to whoever passed it. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async probe(): Promise<void> {
    if (this.probing || this.assigned.size === 0) return;
    this.probing = true;
    try {
      const lags = new Map<string, number>();
      for (const entry of await this.admin.groupLag([...this.assigned.values()])) {
        if (this.assigned.has(partitionKey(entry))) lags.set(partitionKey(entry), entry.lag);
      }
      this.lags = lags;
      this.failuresWarned = false;
    } catch (error) {
      if (!this.failuresWarned) {
        this.failuresWarned = true;
        this.logger.warn({ err: errorMessage(error) }, 'group lag probe failed; will ask again');
      }
    } finally {
      this.probing = false;
    }
  }
}
