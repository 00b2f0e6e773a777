/**
 * The benchmark needs Kafka and Redis of the local stack, not the schema registry. It does not
 * start or stop services (other people's runs share the stack, some of them stop a service on
 * purpose to test an outage): it waits a little for them to answer, then says how to start them.
 */
import { kafka } from '../../deploy/local/kafka.js';
import { redis } from '../../deploy/local/redis.js';
import { waitFor } from '../helpers/kafka-test-helpers.js';

export async function requireKafkaAndRedis(timeoutMs = 30_000): Promise<void> {
  for (const component of [kafka, redis]) {
    await waitFor(() => component.isUp(), {
      timeoutMs,
      intervalMs: 1_000,
      message: `${component.name} at ${component.endpoint} (start the stack: npx tsx deploy/local/stack.ts up)`,
    });
  }
}
