import { readFileSync } from 'node:fs';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { RawAvroSchema } from '@kafkajs/confluent-schema-registry/dist/@types.js';
import { PoisonInputError, RetriableError, errorMessage } from '../errors.js';
import type { EventDecoder, PredictionEncoder } from './event-decoder.js';

/** Confluent wire format: magic byte 0, then a 4-byte big-endian schema id, then the Avro body. */
const WIRE_HEADER_BYTES = 5;

export function readAvroSchema(path: string): string {
  return readFileSync(path, 'utf8');
}

/**
 * Decodes Confluent-framed Avro: the writer schema is fetched by id (the client caches it) and
 * resolved to the reader schema, so writers can evolve. Bad framing, an id the registry does not
 * know (404) and a corrupt body are poison; an unreachable or failing registry is retriable.
 */
export class AvroEventDecoder implements EventDecoder {
  private readonly options;

  constructor(
    private readonly registry: SchemaRegistry,
    readerSchema: string | undefined,
  ) {
    this.options = readerSchema
      ? { [SchemaType.AVRO]: { readerSchema: JSON.parse(readerSchema) as RawAvroSchema } }
      : undefined;
  }

  async decode(value: Buffer | null): Promise<Record<string, unknown>> {
    if (value === null || value.length < WIRE_HEADER_BYTES) {
      throw new PoisonInputError(
        'decode',
        `too short for the Confluent wire format: ${value?.length ?? 0} bytes`,
      );
    }
    if (value[0] !== 0) {
      throw new PoisonInputError(
        'decode',
        `wrong magic byte ${value[0]}, expected 0 (Confluent wire format)`,
      );
    }
    const schemaId = value.readInt32BE(1);
    try {
      await this.registry.getSchema(schemaId);
    } catch (error) {
      if (statusOf(error) === 404) {
        throw new PoisonInputError('decode', `schema id ${schemaId} is unknown to the registry`, {
          cause: error,
        });
      }
      throw new RetriableError(`schema registry unavailable: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    try {
      // The writer schema is cached now, so this only parses the body.
      return (await this.registry.decode(value, this.options)) as Record<string, unknown>;
    } catch (error) {
      throw new PoisonInputError(
        'decode',
        `corrupt Avro body for schema id ${schemaId}: ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
  }
}

/** Encodes predictions with the output schema registered once under "<topic>-value". */
export class AvroPredictionEncoder implements PredictionEncoder<unknown> {
  private constructor(
    private readonly registry: SchemaRegistry,
    readonly schemaId: number,
  ) {}

  static async register(
    registry: SchemaRegistry,
    topic: string,
    schema: string,
  ): Promise<AvroPredictionEncoder> {
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema },
      { subject: `${topic}-value` },
    );
    return new AvroPredictionEncoder(registry, id);
  }

  encode(prediction: unknown): Promise<Buffer> {
    return this.registry.encode(this.schemaId, prediction);
  }
}

function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'status' in error
    ? Number(error.status)
    : undefined;
}
