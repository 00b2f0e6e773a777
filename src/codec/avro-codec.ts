import { readFileSync } from 'node:fs';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { RawAvroSchema } from '@kafkajs/confluent-schema-registry/dist/@types.js';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import { ModelLoadError, PoisonInputError, RetriableError, errorMessage } from '../errors.js';
import type { PredictionRecord } from '../wire-contract.js';
import { readSchemaId } from './avro-framing.js';
import type { EventDecoder, PredictionEncoder } from './event-decoder.js';

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
    const schemaId = readSchemaId(value);
    await fetchWriterSchema(this.registry, schemaId);
    try {
      // The writer schema is cached now, so this only parses the body.
      return (await this.registry.decode(value!, this.options)) as Record<string, unknown>;
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

/**
 * The writer schema of `schemaId` (the client caches it): an id the registry does not know (404)
 * is poison, an unreachable or failing registry retriable.
 */
export async function fetchWriterSchema(
  registry: SchemaRegistry,
  schemaId: number,
): Promise<Awaited<ReturnType<SchemaRegistry['getSchema']>>> {
  try {
    return await registry.getSchema(schemaId);
  } catch (error) {
    if (statusOf(error) === 404) {
      throw new PoisonInputError('decode', `schema id ${schemaId} is unknown to the registry`, {
        cause: error,
        reason: 'unknown-schema',
      });
    }
    throw new RetriableError(`schema registry unavailable: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Encodes predictions with the output schema registered once under "<topic>-value". */
export class AvroPredictionEncoder implements PredictionEncoder<PredictionRecord> {
  private constructor(
    private readonly registry: SchemaRegistry,
    readonly schemaId: number,
  ) {}

  /**
   * Registers the schema, waiting out an unavailable registry with backoff (a worker that starts
   * before its registry should wait, not crash-loop). A refusal (incompatible or invalid schema,
   * no permission) is final and stops start-up.
   */
  static async register(
    registry: SchemaRegistry,
    topic: string,
    schema: string,
    retry: BackoffOptions & {
      shouldContinue: () => boolean;
      onRetry: (error: unknown, attempt: number, delayMs: number) => void;
    },
  ): Promise<AvroPredictionEncoder> {
    const subject = `${topic}-value`;
    try {
      const { id } = await retryWithBackoff(
        () => registry.register({ type: SchemaType.AVRO, schema }, { subject }),
        { ...retry, isRetriable: registryUnavailable },
      );
      return new AvroPredictionEncoder(registry, id);
    } catch (error) {
      throw new ModelLoadError(
        `cannot register the output schema under "${subject}": ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  encode(prediction: PredictionRecord): Promise<Buffer> {
    return this.registry.encode(this.schemaId, prediction);
  }
}

/**
 * The registry could not be reached or failed (retry), as opposed to refusing the request.
 * The client reports a connection failure as status 400 ("connect ECONNREFUSED ...").
 */
export function registryUnavailable(error: unknown): boolean {
  const status = statusOf(error);
  return (
    status === undefined || status === 400 || status === 408 || status === 429 || status >= 500
  );
}

function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'status' in error
    ? Number(error.status)
    : undefined;
}
