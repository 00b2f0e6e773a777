import type { KafkaConnectionOptions } from '../config/worker-config.js';
import type { Logger } from '../observability/logger.js';
import { createKafkajsClient } from './kafkajs-transport.js';

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Topic configs, e.g. { "message.timestamp.type": "LogAppendTime" }. */
  config?: Record<string, string>;
}

/**
 * The few admin calls the CLI tools make (the demo's topics). Not on the hot path, so the pure
 * JavaScript client serves both transports.
 */
export async function withTopicAdmin<T>(
  connection: KafkaConnectionOptions,
  logger: Logger,
  work: (admin: {
    create(topics: TopicSpec[]): Promise<void>;
    delete(topics: string[]): Promise<void>;
  }) => Promise<T>,
): Promise<T> {
  const admin = createKafkajsClient(connection, logger).admin();
  await admin.connect();
  try {
    return await work({
      create: async (topics) => {
        await admin.createTopics({
          waitForLeaders: true,
          topics: topics.map(({ topic, partitions, config }) => ({
            topic,
            numPartitions: partitions,
            configEntries: Object.entries(config ?? {}).map(([name, value]) => ({ name, value })),
          })),
        });
      },
      delete: (topics) => admin.deleteTopics({ topics }),
    });
  } finally {
    await admin.disconnect();
  }
}
