import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { PoisonInputError } from '../errors.js';
import { fetchWriterSchema } from './avro-codec.js';

/**
 * The Avro writer schemas of the input, by registry id, resolved on the main thread once per id
 * and handed to the inference threads as text, which decode the bodies (avro-body-decoder.ts).
 * Schemas are few (each id must exist in the registry), so they are kept for the worker's life.
 */
export class WriterSchemas {
  private readonly texts = new Map<number, string>();

  constructor(private readonly registry: SchemaRegistry) {}

  /** The schema's text when it is resolved already: no promise on the hot path. */
  known(schemaId: number): string | undefined {
    return this.texts.get(schemaId);
  }

  /**
   * Fetches the schema: poison when the registry does not know the id or it is not Avro,
   * retriable when the registry is unavailable (error-policy.ts).
   */
  async resolve(schemaId: number): Promise<string> {
    const known = this.texts.get(schemaId);
    if (known !== undefined) return known;
    const schema = (await fetchWriterSchema(this.registry, schemaId)) as unknown;
    if (!avro.Type.isType(schema)) {
      throw new PoisonInputError('decode', `schema id ${schemaId} is not an Avro schema`, {
        reason: 'unknown-schema',
      });
    }
    // The parsed type inlines referenced schemas, so its text stands alone.
    const text = JSON.stringify((schema as avro.Type).schema({ exportAttrs: true }));
    this.texts.set(schemaId, text);
    return text;
  }
}
