import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config/worker-config.js';
import { errorMessage } from '../errors.js';
import { AvroEventDecoder, AvroPredictionEncoder, readAvroSchema } from './avro-codec.js';
import type { EventDecoder, PredictionEncoder } from './event-decoder.js';
import { jsonEventDecoder, jsonPredictionEncoder } from './json-codec.js';

/** The decoders of the input topics and the encoder of the output topic, as configured. */
export interface CodecSet {
  decoderFor(topic: string): EventDecoder;
  encoder: PredictionEncoder<unknown>;
}

/** Builds the codecs; with Avro output, registers the output schema once, here at start-up. */
export async function createCodecs(
  config: WorkerConfig,
  registration: { shouldContinue: () => boolean; logger: Logger },
): Promise<CodecSet> {
  const { codec } = config;
  const registry = config.schemaRegistry
    ? new SchemaRegistry({ host: config.schemaRegistry.url, clientId: config.kafka.clientId })
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
  return {
    decoderFor: (topic) =>
      (codec.inputByTopic[topic] ?? codec.input) === 'avro' ? avroDecoder! : jsonEventDecoder,
    encoder,
  };
}
