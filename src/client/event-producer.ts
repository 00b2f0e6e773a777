import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { readAvroSchema } from '../codec/avro-codec.js';
import { PoisonInputError } from '../errors.js';
import { createTransport } from '../kafka/create-transport.js';
import type { OutgoingRecord, RecordHeaders } from '../kafka/transport.js';
import { Featurizer } from '../model/featurizer.js';
import { readModelManifest, rowWidth } from '../model/model-manifest.js';
import { kafkaSecretsOf } from '../config/config-secrets.js';
import { createLogger } from '../observability/logger.js';
import { connectionOptions, type ClientConnection } from './connection.js';
import { clientRegistry, type ClientRegistryOptions } from './registry.js';

export interface EventProducerOptions extends ClientConnection {
  /** The worker's input topic. */
  topic: string;
  /** The model directory (with model.json) events are checked against before sending. */
  model: string;
  /** "json" (default), or "avro": the schema registered as "<topic>-value", Confluent framing. */
  codec?: 'json' | 'avro';
  /** Avro: the event schema (.avsc path). */
  schema?: string;
  /** Avro: the schema registry. */
  registry?: ClientRegistryOptions;
}

export interface SendOptions {
  /** Record key (default: the event's `id`, when it has one). */
  key?: string;
  headers?: Record<string, string | Buffer>;
}

/** An event the model's features refuse: it would only become a dead letter. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}

export interface EventProducer {
  /** Checks the event against the model's features, then sends it (acks=all). */
  send(event: Record<string, unknown>, options?: SendOptions): Promise<void>;
  /** The same for many events, in one request per partition; checks them all first. */
  sendMany(events: { event: Record<string, unknown>; options?: SendOptions }[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Produces events to the worker's input topic with the worker's own feature rules: an event that
 * its model.json refuses (a missing required field, a wrong type, NaN) is an InvalidEventError
 * at the caller, not a dead letter later.
 */
export async function createEventProducer(options: EventProducerOptions): Promise<EventProducer> {
  const clientId = 'kafka-inference-client';
  const manifest = readModelManifest(options.model);
  const featurizer = new Featurizer(manifest);
  const scratch = new Float32Array(rowWidth(manifest));
  const encode = await encoderFor(options, clientId);
  const connection = connectionOptions(options, clientId, `${clientId}-producer`);
  const producer = createTransport(
    connection,
    createLogger('warn', clientId, kafkaSecretsOf(connection)),
  ).producer();
  await producer.connect();

  const toRecord = async (
    event: Record<string, unknown>,
    send: SendOptions = {},
  ): Promise<OutgoingRecord> => {
    try {
      featurizer.encode(event, scratch, 0);
    } catch (error) {
      if (error instanceof PoisonInputError) throw new InvalidEventError(error.message);
      throw error;
    }
    const headers: RecordHeaders = {};
    for (const [name, value] of Object.entries(send.headers ?? {})) {
      headers[name] = Buffer.isBuffer(value) ? value : Buffer.from(value);
    }
    const key = send.key ?? (typeof event.id === 'string' ? event.id : null);
    return { topic: options.topic, key, value: await encode(event), headers };
  };
  return {
    send: async (event, send) => producer.send([await toRecord(event, send)]),
    sendMany: async (events) =>
      producer.send(
        await Promise.all(events.map(({ event, options }) => toRecord(event, options))),
      ),
    close: () => producer.disconnect(),
  };
}

async function encoderFor(
  options: EventProducerOptions,
  clientId: string,
): Promise<(event: Record<string, unknown>) => Promise<Buffer> | Buffer> {
  if (options.codec !== 'avro') return (event) => Buffer.from(JSON.stringify(event));
  const registry = clientRegistry(options.registry, clientId);
  if (!registry || !options.schema) {
    throw new InvalidEventError('an Avro event producer needs `schema` and `registry`');
  }
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: readAvroSchema(options.schema) },
    { subject: `${options.topic}-value` },
  );
  return (event) => registry.encode(id, event);
}
