import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { SingleBar, Presets } from 'cli-progress';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { readAvroSchema } from '../codec/avro-codec.js';
import { createTransport, toolConnection } from '../kafka/create-transport.js';
import type { OutgoingRecord } from '../kafka/transport.js';
import { readModelManifest } from '../model/model-manifest.js';
import { createLogger } from '../observability/logger.js';
import { sampleEvent } from './sample-events.js';

export interface ProduceOptions {
  topic?: string;
  /** With --schema: Avro in the Confluent wire format, the schema registered as "<topic>-value". */
  schema?: string;
  registry?: string;
  count?: string;
  rate?: string;
  file?: string;
  model?: string;
  brokers?: string;
}

const CHUNK = 500;
/** The local stack's registry (Apicurio's Confluent-compatible API). */
export const DEFAULT_REGISTRY_URL = 'http://127.0.0.1:8081/apis/ccompat/v7';

/** `kafka-infer produce`: sample events (from a model's model.json) or a JSONL file, at a rate. */
export async function produceCommand(options: ProduceOptions): Promise<number> {
  if (!options.topic) throw new Error('produce needs --topic');
  const rate = options.rate ? Number(options.rate) : Infinity;
  const events = options.file
    ? readJsonLines(options.file)
    : sampleEvents(options.model ?? 'models/fraud-mlp/1', Number(options.count ?? 1000));
  const total = options.file ? undefined : Number(options.count ?? 1000);
  const encode = options.schema
    ? await avroEncoderFor(options.topic, options.schema, options.registry)
    : undefined;
  const sent = await produceEvents(options.topic, events, {
    rate,
    brokers: options.brokers,
    total,
    encode,
  });
  process.stderr.write(`produced ${sent} events to ${options.topic}\n`);
  return 0;
}

export async function produceEvents(
  topic: string,
  events: AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>,
  options: {
    rate: number;
    brokers?: string;
    total?: number;
    quiet?: boolean;
    encode?: (event: Record<string, unknown>) => Promise<Buffer>;
  },
): Promise<number> {
  const connection = toolConnection({
    clientId: 'kafka-infer-produce',
    brokers: (options.brokers ?? '127.0.0.1:9092').split(','),
  });
  const producer = createTransport(connection, createLogger('warn')).producer();
  await producer.connect();
  const bar = options.quiet
    ? undefined
    : new SingleBar({ stream: process.stderr }, Presets.shades_classic);
  bar?.start(options.total ?? 0, 0);
  const started = performance.now();
  let sent = 0;
  let chunk: OutgoingRecord[] = [];
  const flush = async (): Promise<void> => {
    if (chunk.length === 0) return;
    await producer.send(chunk);
    sent += chunk.length;
    chunk = [];
    bar?.update(sent);
    const ahead = (sent / options.rate) * 1000 - (performance.now() - started);
    if (ahead > 0) await sleep(ahead);
  };
  try {
    for await (const event of events) {
      const value = options.encode ? await options.encode(event) : JSON.stringify(event);
      chunk.push({ topic, key: String(event.id ?? sent + chunk.length), value, headers: {} });
      if (chunk.length >= Math.min(CHUNK, Math.max(1, Math.floor(options.rate / 20))))
        await flush();
    }
    await flush();
  } finally {
    bar?.stop();
    await producer.disconnect();
  }
  return sent;
}

async function avroEncoderFor(
  topic: string,
  schemaPath: string,
  registryUrl = DEFAULT_REGISTRY_URL,
): Promise<(event: Record<string, unknown>) => Promise<Buffer>> {
  const registry = new SchemaRegistry({ host: registryUrl });
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: readAvroSchema(schemaPath) },
    { subject: `${topic}-value` },
  );
  return (event) => registry.encode(id, event);
}

function* sampleEvents(modelDir: string, count: number): Iterable<Record<string, unknown>> {
  const manifest = readModelManifest(modelDir);
  for (let i = 0; i < count; i++) yield sampleEvent(manifest, i);
}

export async function* readJsonLines(path: string): AsyncIterable<Record<string, unknown>> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim()) yield JSON.parse(line) as Record<string, unknown>;
  }
}
