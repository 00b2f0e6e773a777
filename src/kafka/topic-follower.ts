import type { KafkaConnectionOptions } from '../config/worker-config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { createTransport } from './create-transport.js';
import type { ConsumedRecord } from './transport.js';

/**
 * Reads topics and hands every record over, in order per partition: the CLI's tail and demo (a
 * throw-away group, `commit` off) and the client library (its group commits after each batch
 * handled). Resolves once the consumer runs; `stop()` leaves the group.
 */
export async function followTopics(
  connection: KafkaConnectionOptions,
  subscription: { topics: string[]; fromBeginning: boolean; commit?: boolean },
  onRecord: (topic: string, partition: number, record: ConsumedRecord) => Promise<void> | void,
  logger: Logger,
  onAssigned: () => void = () => undefined,
): Promise<{ stop(): Promise<void>; failed: Promise<Error> }> {
  const consumer = createTransport(connection, logger).consumer();
  let fail!: (error: Error) => void;
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  await consumer.run(subscription, {
    onBatch: async (batch) => {
      for (const record of batch.records) await onRecord(batch.topic, batch.partition, record);
      const last = batch.records.at(-1);
      if (subscription.commit && last) {
        // Not awaited: librdkafka answers commits during the poll this handler holds up. A commit
        // that fails only means a redelivery after a restart (at-least-once).
        const offset = (BigInt(last.offset) + 1n).toString();
        consumer
          .commit([{ topic: batch.topic, partition: batch.partition, offset }])
          .catch((error: unknown) =>
            logger.debug({ err: errorMessage(error) }, 'commit failed; will be redelivered'),
          );
      }
      return batch.records.length;
    },
    onAssigned,
    onRevoked: () => Promise.resolve(),
    onFatal: fail,
  });
  return { stop: () => consumer.disconnect(), failed };
}
