import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { toolConnection } from '../kafka/create-transport.js';
import { followTopics } from '../kafka/topic-follower.js';
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
  const connection = toolConnection({
    clientId: 'kafka-infer-tail',
    brokers: (options.brokers ?? '127.0.0.1:9092').split(','),
    groupId: `kafka-infer-tail-${process.pid}-${Date.now()}`,
  });
  const registry = options.registry ? new SchemaRegistry({ host: options.registry }) : undefined;
  let printed = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  process.once('SIGINT', done);
  process.once('SIGTERM', done);
  const follower = await followTopics(
    connection,
    { topics: [options.topic], fromBeginning: options.from !== 'latest' },
    async (_topic, partition, record) => {
      if (printed >= limit) return;
      const headers = Object.fromEntries(
        Object.entries(record.headers).map(([name, value]) => [name, value.toString()]),
      );
      const value = await decodeValue(record.value, registry);
      process.stdout.write(
        `${JSON.stringify({ partition, offset: record.offset, key: record.key?.toString(), headers, value })}\n`,
      );
      if (++printed >= limit) done();
    },
    createLogger('warn'),
  );
  const failure = await Promise.race([finished.then(() => undefined), follower.failed]);
  await follower.stop();
  if (failure) throw failure;
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
