import kafkajs, { type Admin } from 'kafkajs';
import type { KafkaConnectionOptions } from '../config/worker-config.js';
import { KafkaFatalError, errorMessage } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { DEFAULT_MAX_MESSAGE_BYTES, connectAdmin } from './topic-admin.js';
import {
  partitionKey,
  type ClusterAdmin,
  type PartitionLag,
  type TopicPartition,
} from './transport.js';

/**
 * The worker's admin requests through kafkajs, whichever transport consumes and produces: they
 * are never on the hot path. Connects on first use, and again after a failure.
 */
export class KafkajsClusterAdmin implements ClusterAdmin {
  private admin: Admin | undefined;

  constructor(
    private readonly connection: KafkaConnectionOptions,
    private readonly logger: Logger,
  ) {}

  async outputTopicLimit(topics: string[]): Promise<number> {
    try {
      const admin = await this.connected();
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((topic) => !existing.has(topic));
      if (missing.length > 0) {
        throw new KafkaFatalError(
          `output topic(s) ${missing.join(', ')} do not exist (or this principal may not describe ` +
            'them): create them, or fix kafka.outputTopic / kafka.deadLetterTopic / model.shadow.topic',
        );
      }
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: topics.map((name) => ({
          type: kafkajs.ConfigResourceTypes.TOPIC,
          name,
          configNames: ['max.message.bytes'],
        })),
      });
      const limits = resources.flatMap((resource) =>
        resource.configEntries
          .filter((entry) => entry.configName === 'max.message.bytes')
          .map((entry) => Number(entry.configValue)),
      );
      const smallest = Math.min(...limits.filter((limit) => limit > 0));
      return Number.isFinite(smallest) ? smallest : DEFAULT_MAX_MESSAGE_BYTES;
    } catch (error) {
      if (error instanceof KafkaFatalError) throw error;
      await this.reset();
      this.logger.warn(
        { err: errorMessage(error), assumed: DEFAULT_MAX_MESSAGE_BYTES },
        'could not read the output topics max.message.bytes; assuming the default',
      );
      return DEFAULT_MAX_MESSAGE_BYTES;
    }
  }

  async groupLag(partitions: TopicPartition[]): Promise<PartitionLag[]> {
    try {
      const admin = await this.connected();
      const wanted = new Set(partitions.map(partitionKey));
      const topics = [...new Set(partitions.map((tp) => tp.topic))];
      const committed = await admin.fetchOffsets({ groupId: this.connection.groupId, topics });
      const lags: PartitionLag[] = [];
      for (const topic of topics) {
        const ends = await admin.fetchTopicOffsets(topic);
        const done = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
        for (const { partition, high, low } of ends) {
          if (!wanted.has(partitionKey({ topic, partition }))) continue;
          const at = done.find((entry) => entry.partition === partition)?.offset ?? '-1';
          const from =
            BigInt(at) >= 0n ? BigInt(at) : BigInt(this.connection.fromBeginning ? low : high);
          const lag = BigInt(high) - from;
          lags.push({ topic, partition, lag: lag > 0n ? Number(lag) : 0 });
        }
      }
      return lags;
    } catch (error) {
      await this.reset();
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.reset();
  }

  private async connected(): Promise<Admin> {
    this.admin ??= await connectAdmin(this.connection, this.logger);
    return this.admin;
  }

  private async reset(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = undefined;
  }
}
