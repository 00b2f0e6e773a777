/**
 * When a consumer group has drained a pre-filled topic: the first moment its committed offsets
 * reach the end offsets. One admin client polls every 50 ms, so the end time is late by at most
 * about one poll (the same for every pipeline measured).
 */
import { waitFor, withAdmin, type PartitionOffsets } from '../helpers/kafka-test-helpers.js';

const POLL_MS = 50;

/** Resolves with Date.now() at the first poll that finds every partition committed to `end`. */
export function waitUntilCommitted(
  groupId: string,
  topic: string,
  end: PartitionOffsets,
  timeoutMs: number,
): Promise<number> {
  const target = Object.values(end).reduce((sum, offset) => sum + offset, 0);
  let committed = 0;
  return withAdmin((admin) =>
    waitFor(
      async () => {
        const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const byPartition = new Map(
          (result?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
        );
        committed = 0;
        let done = true;
        for (const [partition, offset] of Object.entries(end)) {
          const at = byPartition.get(Number(partition)) ?? -1;
          committed += Math.max(0, Math.min(at, offset));
          if (at < offset) done = false;
        }
        return done ? Date.now() : undefined;
      },
      {
        timeoutMs,
        intervalMs: POLL_MS,
        message: () => `group ${groupId} to commit ${topic} to its end (${committed}/${target})`,
      },
    ),
  );
}
