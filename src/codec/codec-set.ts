import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Agent } from 'node:https';
import type { Logger } from 'pino';
import { readConfigFile, readSecret } from '../config/secrets.js';
import type { SchemaRegistryOptions, WorkerConfig } from '../config/worker-config.js';
import { errorMessage } from '../errors.js';
import { AvroEventDecoder, AvroPredictionEncoder, readAvroSchema } from './avro-codec.js';
import type { PredictionRecord } from '../wire-contract.js';
import type { EventDecoder, PredictionEncoder } from './event-decoder.js';
import { jsonEventDecoder, jsonPredictionEncoder } from './json-codec.js';
import { VALUE_FORMAT, type ValueFormat } from '../model/row-input.js';
import { WriterSchemas } from './writer-schemas.js';

/** The decoders of the input topics and the encoder of the output topic, as configured. */
export interface CodecSet {
  decoderFor(topic: string): EventDecoder;
  /** How a topic's values are encoded: what the inference threads decode them with. */
  formatFor(topic: string): ValueFormat;
  /** Avro input: writer schemas resolved on the main thread for the inference threads. */
  writerSchemas: WriterSchemas | undefined;
  encoder: PredictionEncoder<PredictionRecord>;
}

/** Builds the codecs; with Avro output, registers the output schema once, here at start-up. */
export async function createCodecs(
  config: WorkerConfig,
  registration: { shouldContinue: () => boolean; logger: Logger },
): Promise<CodecSet> {
  const { codec } = config;
  const registry = config.schemaRegistry
    ? createRegistryClient(config.schemaRegistry, config.kafka.clientId)
    : undefined;
  const avroDecoder = registry
    ? new AvroEventDecoder(
        registry,
        codec.readerSchema ? readAvroSchema(codec.readerSchema) : undefined,
      )
    : undefined;
  const encoder =
    codec.output === 'avro'
      ? await AvroPredictionEncoder.register(
          registry!,
          config.kafka.outputTopic,
          readAvroSchema(codec.outputSchema),
          {
            initialMs: config.schemaRegistry!.retryBackoffMs,
            maxMs: config.delivery.maxRetryBackoffMs,
            shouldContinue: registration.shouldContinue,
            onRetry: (error, attempt, delayMs) =>
              registration.logger.warn(
                { err: errorMessage(error), attempt, delayMs },
                'schema registry unavailable; waiting to register the output schema',
              ),
          },
        )
      : jsonPredictionEncoder;
  const isAvro = (topic: string) => (codec.inputByTopic[topic] ?? codec.input) === 'avro';
  return {
    decoderFor: (topic) => (isAvro(topic) ? avroDecoder! : jsonEventDecoder),
    formatFor: (topic) => (isAvro(topic) ? VALUE_FORMAT.avro : VALUE_FORMAT.json),
    writerSchemas: registry ? new WriterSchemas(registry) : undefined,
    encoder,
  };
}

/** A registry client with basic auth and a private CA when configured. */
export function createRegistryClient(
  options: SchemaRegistryOptions,
  clientId: string,
): SchemaRegistry {
  const password = readSecret(
    options.password,
    options.passwordFile,
    'schemaRegistry.passwordFile',
  );
  return new SchemaRegistry({
    host: options.url,
    clientId,
    ...(options.username ? { auth: { username: options.username, password: password ?? '' } } : {}),
    ...(options.caFile
      ? {
          agent: new Agent({
            keepAlive: true,
            ca: readConfigFile(options.caFile, 'schemaRegistry.caFile'),
          }),
        }
      : {}),
  });
}
