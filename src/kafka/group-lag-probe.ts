import type { Admin } from 'kafkajs';
import type { KafkaConnectionOptions } from '../config/worker-config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { connectAdmin } from './topic-admin.js';
import { partitionKey, type TopicPartition } from './transport.js';

/** How often the probe asks the brokers; lag is a trend, and each ask is two admin requests. */
const PROBE_INTERVAL_MS = 10_000;

export interface PartitionLag extends TopicPartition {
  lag: number;
}

/**
 * The group's lag on every partition this member is assigned, from the brokers (end offsets
 * minus the group's committed offsets), asked every 10 s off the hot path. A partition that
 * gets no traffic fetches nothing, so only this keeps its lag series (0, or what it still owes)
 * alive for the alerts and dashboards. Admin calls go through kafkajs whatever the transport.
 */
export class GroupLagProbe {
  private readonly assigned = new Map<string, TopicPartition>();
  private lags = new Map<string, number>();
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private failuresWarned = false;

  constructor(
    private readonly connection: KafkaConnectionOptions,
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

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = undefined;
  }

  private async probe(): Promise<void> {
    if (this.probing || this.assigned.size === 0) return;
    this.probing = true;
    try {
      this.admin ??= await connectAdmin(this.connection, this.logger);
      const topics = [...new Set([...this.assigned.values()].map((tp) => tp.topic))];
      const lags = new Map<string, number>();
      const committed = await this.admin.fetchOffsets({
        groupId: this.connection.groupId,
        topics,
      });
      for (const topic of topics) {
        const ends = await this.admin.fetchTopicOffsets(topic);
        const done = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
        for (const { partition, high, low } of ends) {
          const key = partitionKey({ topic, partition });
          if (!this.assigned.has(key)) continue;
          const at = done.find((entry) => entry.partition === partition)?.offset ?? '-1';
          // No committed offset yet: from the start, all that is retained is still to do; from
          // the end, nothing is.
          const from =
            BigInt(at) >= 0n ? BigInt(at) : BigInt(this.connection.fromBeginning ? low : high);
          const lag = BigInt(high) - from;
          lags.set(key, lag > 0n ? Number(lag) : 0);
        }
      }
      this.lags = lags;
      this.failuresWarned = false;
    } catch (error) {
      if (!this.failuresWarned) {
        this.failuresWarned = true;
        this.logger.warn({ err: errorMessage(error) }, 'group lag probe failed; will ask again');
      }
      await this.admin?.disconnect().catch(() => undefined);
      this.admin = undefined;
    } finally {
      this.probing = false;
    }
  }
}
