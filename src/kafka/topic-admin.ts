import type { Admin } from 'kafkajs';
import type { KafkaConnectionOptions } from '../config/worker-config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { createKafkajsClient } from './kafkajs-transport.js';

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Topic configs, e.g. { "message.timestamp.type": "LogAppendTime" }. */
  config?: Record<string, string>;
}

/**
 * A connected admin client. Admin calls are never on the hot path, so the pure JavaScript client
 * serves both transports.
 */
export async function connectAdmin(
  connection: KafkaConnectionOptions,
  logger: Logger,
): Promise<Admin> {
  const admin = createKafkajsClient(connection, logger).admin();
  try {
    await admin.connect();
  } catch (error) {
    await admin.disconnect().catch(() => undefined);
    throw error;
  }
  return admin;
}

/** A connected admin client for `work`, disconnected after it. */
async function withAdmin<T>(
  connection: KafkaConnectionOptions,
  logger: Logger,
  work: (admin: Admin) => Promise<T>,
): Promise<T> {
  const admin = await connectAdmin(connection, logger);
  try {
    return await work(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The few admin calls the CLI tools make (the demo's topics). */
export async function withTopicAdmin<T>(
  connection: KafkaConnectionOptions,
  logger: Logger,
  work: (admin: {
    create(topics: TopicSpec[]): Promise<void>;
    delete(topics: string[]): Promise<void>;
  }) => Promise<T>,
): Promise<T> {
  return withAdmin(connection, logger, (admin) =>
    work({
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
    }),
  );
}

/** Kafka's default max.message.bytes (topic) and message.max.bytes (broker). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/** One partition's offsets to replay: [start, end). */
export interface ReplayRange {
  topic: string;
  partition: number;
  start: bigint;
  end: bigint;
}

/**
 * The offsets of every partition of `topics` whose records fall in [fromMs, toMs), by the
 * records' timestamps (offsets-for-times): start is the first offset at or after `fromMs`, end
 * the first at or after `toMs` (the high watermark when there is none).
 */
export async function replayRanges(
  connection: KafkaConnectionOptions,
  topics: string[],
  fromMs: number,
  toMs: number,
  logger: Logger,
): Promise<ReplayRange[]> {
  return withAdmin(connection, logger, async (admin) => {
    const ranges: ReplayRange[] = [];
    for (const topic of topics) {
      const starts = await admin.fetchTopicOffsetsByTimestamp(topic, fromMs);
      const ends = await admin.fetchTopicOffsetsByTimestamp(topic, toMs);
      for (const { partition, offset } of starts) {
        const end = ends.find((entry) => entry.partition === partition)!.offset;
        ranges.push({ topic, partition, start: BigInt(offset), end: BigInt(end) });
      }
    }
    return ranges.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  });
}

/**
 * Sets a new consumer group's committed offsets to the ranges' starts, so that a worker joining
 * it begins exactly there, runs `work`, and deletes the group afterwards.
 */
export async function withGroupAt<T>(
  connection: KafkaConnectionOptions,
  groupId: string,
  ranges: ReplayRange[],
  logger: Logger,
  work: () => Promise<T>,
): Promise<T> {
  return withAdmin(connection, logger, async (admin) => {
    try {
      for (const topic of new Set(ranges.map((range) => range.topic))) {
        await admin.setOffsets({
          groupId,
          topic,
          partitions: ranges
            .filter((range) => range.topic === topic)
            .map((range) => ({ partition: range.partition, offset: range.start.toString() })),
        });
      }
      return await work();
    } finally {
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
  });
}

/**
 * Commits `topic`'s current end offsets for the new group `groupId`, so that a consumer joining it
 * reads exactly what is written from now on, however late it gets its partitions (a consumer
 * positioned by auto.offset.reset=latest would skip what lands before its first fetch).
 */
export async function startGroupAtEnd(
  connection: KafkaConnectionOptions,
  groupId: string,
  topic: string,
  logger: Logger,
): Promise<void> {
  await withAdmin(connection, logger, async (admin) => {
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({
      groupId,
      topic,
      partitions: ends.map(({ partition, high }) => ({ partition, offset: high })),
    });
  });
}

/** Deletes a consumer group this process made for itself (best effort: it expires anyway). */
export async function deleteGroup(
  connection: KafkaConnectionOptions,
  groupId: string,
  logger: Logger,
): Promise<void> {
  await withAdmin(connection, logger, (admin) => admin.deleteGroups([groupId])).catch(
    (error: unknown) => logger.debug({ err: errorMessage(error), groupId }, 'group not deleted'),
  );
}
