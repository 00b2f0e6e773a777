/**
 * Kafka topics, records and offsets for integration tests against the local stack's broker.
 * Re-exports the generic helpers (uniqueName, waitFor, testKafka) so tests need one import.
 */
import type { IHeaders } from 'kafkajs';
import { testKafka, withAdmin } from './kafka-client.js';
import { uniqueName } from './unique-name.js';
import { waitFor } from './wait-for.js';

export { testKafka, withAdmin } from './kafka-client.js';
export { uniqueName } from './unique-name.js';
export { waitFor, type WaitForOptions } from './wait-for.js';

/** partition -> offset. */
export type PartitionOffsets = Record<number, number>;

export interface ReadRecord {
  partition: number;
  offset: number;
  key: Buffer | null;
  /** The record's value; a tombstone (null value) reads as an empty Buffer with `tombstone: true`. */
  value: Buffer;
  tombstone: boolean;
  headers: IHeaders;
  timestamp: string;
}

/**
 * Creates a topic (replication factor 1) and waits until metadata shows every partition with a
 * leader, so producing right away does not hit LEADER_NOT_AVAILABLE. Returns the name.
 */
export async function createTopic(
  name: string,
  partitions: number,
  configEntries: Record<string, string> = {},
): Promise<string> {
  await withAdmin(async (admin) => {
    await admin.createTopics({
      topics: [
        {
          topic: name,
          numPartitions: partitions,
          replicationFactor: 1,
          configEntries: Object.entries(configEntries).map(([name, value]) => ({ name, value })),
        },
      ],
      // kafkajs's own wait throws UNKNOWN_TOPIC_OR_PARTITION when it asks a broker before the
      // metadata reached it; the loop below counts that as "not yet".
      waitForLeaders: false,
    });
    await waitFor(
      async () => {
        const { topics } = await admin.fetchTopicMetadata({ topics: [name] });
        const meta = topics.find((t) => t.name === name);
        return (
          meta !== undefined &&
          meta.partitions.length === partitions &&
          meta.partitions.every((p) => p.leader >= 0)
        );
      },
      {
        timeoutMs: 15_000,
        intervalMs: 100,
        message: `topic ${name} with ${partitions} led partitions`,
      },
    );
  });
  return name;
}

/** Deletes topics; ones that do not exist are ignored. */
export async function deleteTopics(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await withAdmin(async (admin) => {
    const existing = new Set(await admin.listTopics());
    const topics = names.filter((n) => existing.has(n));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 15_000 });
  });
}

/** The log end offset (high watermark) of every partition of `topic`. */
export async function endOffsets(topic: string): Promise<PartitionOffsets> {
  return withAdmin(async (admin) => {
    const offsets = await admin.fetchTopicOffsets(topic);
    return toPartitionOffsets(offsets.map((o) => ({ partition: o.partition, offset: o.high })));
  });
}

/** The offsets `groupId` has committed on every partition of `topic`; -1 where it has none. */
export async function committedOffsets(groupId: string, topic: string): Promise<PartitionOffsets> {
  return withAdmin(async (admin) => {
    const result = await admin.fetchOffsets({ groupId, topics: [topic] });
    const partitions = result.find((t) => t.topic === topic)?.partitions ?? [];
    return toPartitionOffsets(partitions);
  });
}

function toPartitionOffsets(
  entries: readonly { partition: number; offset: string }[],
): PartitionOffsets {
  const out: PartitionOffsets = {};
  for (const e of [...entries].sort((a, b) => a.partition - b.partition)) {
    out[e.partition] = Number(e.offset);
  }
  return out;
}

export interface ReadAllOptions {
  /** Wait until the topic holds at least this many records before reading (default: read what is there). */
  expectedCount?: number;
  /** Deadline for waiting plus reading (default 30 s). */
  timeoutMs?: number;
}

/**
 * Every record of `topic` from the beginning up to the end offsets, sorted by (partition, offset),
 * each once. Reads with a fresh consumer group that commits nothing and is deleted afterwards.
 * With `expectedCount`, first waits until the partitions' offset ranges add up to at least that.
 */
export async function readAllMessages(
  topic: string,
  options: ReadAllOptions = {},
): Promise<ReadRecord[]> {
  const { expectedCount, timeoutMs = 30_000 } = options;
  const deadline = Date.now() + timeoutMs;

  let available = 0;
  const ranges = await withAdmin((admin) =>
    waitFor(
      async () => {
        const offsets = await admin.fetchTopicOffsets(topic);
        available = offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
        return expectedCount === undefined || available >= expectedCount ? offsets : undefined;
      },
      {
        timeoutMs,
        intervalMs: 200,
        message: () => `${topic} to hold ${expectedCount} records (it holds ${available})`,
      },
    ),
  );
  const end = new Map<number, number>();
  const next = new Map<number, number>();
  for (const r of ranges) {
    if (Number(r.high) > Number(r.low)) {
      end.set(r.partition, Number(r.high));
      next.set(r.partition, Number(r.low));
    }
  }
  if (end.size === 0) return [];

  const records = new Map<string, ReadRecord>();
  const caughtUp = (): boolean => [...end].every(([p, high]) => (next.get(p) ?? 0) >= high);
  const groupId = uniqueName(`read-all-${topic}`);
  const consumer = testKafka({ clientId: 'integration-test-reader' }).consumer({
    groupId,
    maxWaitTimeInMs: 250,
    allowAutoTopicCreation: false,
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const high = end.get(batch.partition);
        if (high === undefined) return;
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          if (offset >= high) continue;
          records.set(`${batch.partition}:${offset}`, {
            partition: batch.partition,
            offset,
            key: m.key,
            value: m.value ?? Buffer.alloc(0),
            tombstone: m.value === null,
            headers: m.headers ?? {},
            timestamp: m.timestamp,
          });
        }
        // lastOffset() also covers control records and aborted transactions the batch skipped.
        const position = Number(batch.lastOffset()) + 1;
        next.set(batch.partition, Math.max(next.get(batch.partition) ?? 0, position));
        if (caughtUp()) resolveDone();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          const progress = [...end].map(([p, high]) => `p${p} ${next.get(p)}/${high}`).join(', ');
          reject(
            new Error(`readAllMessages(${topic}) timed out after ${timeoutMs} ms: ${progress}`),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      await Promise.race([done, expired]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect();
    await withAdmin((admin) => admin.deleteGroups([groupId])).catch(() => undefined);
  }
  return [...records.values()].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}
