import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { createKafka } from '../kafka/kafka-client.js';
import { createLogger } from '../observability/logger.js';

export interface TailOptions {
  topic?: string;
  count?: string;
  brokers?: string;
  from?: string;
  /** Decode Confluent-framed Avro values with this registry. */
  registry?: string;
}

/** `kafka-infer tail`: print records of a topic as JSON lines (key, headers, value). */
export async function tailCommand(options: TailOptions): Promise<number> {
  if (!options.topic) throw new Error('tail needs --topic');
  const limit = options.count ? Number(options.count) : Infinity;
  const kafka = createKafka(
    { clientId: 'kafka-infer-tail', brokers: (options.brokers ?? '127.0.0.1:9092').split(',') },
    createLogger('warn'),
  );
  const consumer = kafka.consumer({ groupId: `kafka-infer-tail-${process.pid}-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [options.topic], fromBeginning: options.from !== 'latest' });
  const registry = options.registry ? new SchemaRegistry({ host: options.registry }) : undefined;
  let printed = 0;
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (printed >= limit) return;
        const headers = Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([name, value]) => [name, value?.toString()]),
        );
        const value = await decodeValue(message.value, registry);
        process.stdout.write(
          `${JSON.stringify({ partition, offset: message.offset, key: message.key?.toString(), headers, value })}\n`,
        );
        if (++printed >= limit) resolve();
      },
    });
  });
  await consumer.disconnect();
  return 0;
}

async function decodeValue(
  value: Buffer | null,
  registry: SchemaRegistry | undefined,
): Promise<unknown> {
  if (value === null) return null;
  if (registry && value[0] === 0) return registry.decode(value);
  const text = value.toString();
  try {
    return JSON.parse(text);
  } catch {
    return text; // neither JSON nor Avro: print as text
  }
}
