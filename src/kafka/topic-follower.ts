import type { KafkaConnectionOptions } from '../config/worker-config.js';
import type { Logger } from '../observability/logger.js';
import { createTransport } from './create-transport.js';
import type { ConsumedRecord } from './transport.js';

/**
 * Reads topics with a throw-away group and hands every record over, for the CLI's tail and demo.
 * Commits nothing. Resolves once the consumer runs; `stop()` leaves the group.
 */
export async function followTopics(
  connection: KafkaConnectionOptions,
  subscription: { topics: string[]; fromBeginning: boolean },
  onRecord: (topic: string, partition: number, record: ConsumedRecord) => Promise<void> | void,
  logger: Logger,
): Promise<{ stop(): Promise<void>; failed: Promise<Error> }> {
  const consumer = createTransport(connection, logger).consumer();
  let fail!: (error: Error) => void;
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  await consumer.run(subscription, {
    onBatch: async (batch) => {
      for (const record of batch.records) await onRecord(batch.topic, batch.partition, record);
      return batch.records.length;
    },
    onAssigned: () => undefined,
    onRevoked: () => Promise.resolve(),
    onFatal: fail,
  });
  return { stop: () => consumer.disconnect(), failed };
}
