import { existsSync, readFileSync } from 'node:fs';
import { createPredictionClient } from '../client/index.js';
import { loadConfig } from '../config/load-config.js';
import { ModelRepository } from '../model/model-repository.js';
import { UsageError } from './usage-error.js';

export interface RequestOptions {
  config?: string;
  'reply-topic'?: string;
  event?: string;
  timeout?: string;
}

/** `kafka-infer request`: one event, its prediction by request/reply, and the round-trip time. */
export async function requestCommand(options: RequestOptions): Promise<number> {
  const replyTopic = options['reply-topic'];
  if (!replyTopic) throw new UsageError('--reply-topic is required');
  if (!options.event) throw new UsageError('--event is required (inline JSON or a JSON file)');
  const text = existsSync(options.event) ? readFileSync(options.event, 'utf8') : options.event;
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`--event is not JSON: ${(error as Error).message}`);
  }
  const config = loadConfig(options.config);
  const { kafka, model, codec, schemaRegistry } = config;
  const topic = kafka.inputTopics?.[0];
  if (!topic) throw new UsageError('request sends to kafka.inputTopics[0]; the config has none');
  const modelDir =
    model.path ??
    new ModelRepository(model.repository!, model.name!).resolve(model.version).directory;
  const client = await createPredictionClient({
    brokers: kafka.brokers,
    kafka: { client: kafka.client, ssl: kafka.ssl, sasl: kafka.sasl },
    topic,
    replyTopic,
    model: modelDir,
    codec: codec.input,
    schema: codec.readerSchema,
    registry: schemaRegistry,
  });
  try {
    const started = performance.now();
    const prediction = await client.predict(event, {
      timeoutMs: options.timeout ? Number(options.timeout) : 10_000,
    });
    const roundTripMs = Math.round((performance.now() - started) * 10) / 10;
    process.stdout.write(`${JSON.stringify({ roundTripMs, prediction })}\n`);
    return 0;
  } finally {
    await client.close();
  }
}
