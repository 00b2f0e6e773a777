import { Kafka, logLevel } from 'kafkajs';
import type { KafkaOptions } from '../config/worker-config.js';
import { kafkaLogCreator, type Logger } from '../observability/logger.js';

export function createKafka(
  options: Pick<KafkaOptions, 'brokers' | 'clientId'>,
  logger: Logger,
): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
    // Broker restarts are ridden out by our own retry loops; keep kafkajs's bounded.
    retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 8 },
  });
}
