import { Kafka, logLevel, type Admin, type KafkaConfig } from 'kafkajs';
import { KAFKA_BOOTSTRAP } from '../../deploy/local/kafka.js';

// kafkajs 2 warns once per process that its default partitioner changed; it means nothing to tests.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

/**
 * A kafkajs client for the local stack's broker (127.0.0.1:9092), logging only errors.
 * Pass overrides for anything else, e.g. { logLevel: logLevel.NOTHING } in outage tests.
 */
export function testKafka(overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'integration-test',
    brokers: [KAFKA_BOOTSTRAP],
    logLevel: logLevel.ERROR,
    ...overrides,
  });
}

/** Runs `fn` with a connected admin client and always disconnects it. */
export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = testKafka({ clientId: 'integration-test-admin' }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}
