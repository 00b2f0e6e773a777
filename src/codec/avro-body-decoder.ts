import avro from 'avsc';
import { PoisonInputError } from '../errors.js';
import { WIRE_HEADER_BYTES } from './avro-framing.js';

interface ReadPlan {
  type: avro.Type;
  resolver?: avro.Resolver;
}

/**
 * Decodes the body of Confluent-framed Avro with a writer schema the main thread resolved
 * (writer-schemas.ts), into the reader schema when one is configured: what the registry client
 * does (@kafkajs/confluent-schema-registry decode), without a registry, so that it runs in an
 * inference thread. A body that does not parse, or a writer the reader cannot resolve, is poison.
 */
export class AvroBodyDecoder {
  private readonly plans = new Map<number, ReadPlan>();
  private readonly reader: avro.Type | undefined;

  constructor(readerSchema: string | undefined) {
    this.reader = readerSchema ? avro.Type.forSchema(JSON.parse(readerSchema)) : undefined;
  }

  /** `value` passed the framing check (readSchemaId); `schemas` holds its writer schema. */
  decode(value: Buffer, schemas: Readonly<Record<number, string>>): Record<string, unknown> {
    const schemaId = value.readInt32BE(1);
    try {
      const plan = this.planFor(schemaId, schemas);
      const body = value.subarray(WIRE_HEADER_BYTES);
      return plan.type.fromBuffer(body, plan.resolver) as Record<string, unknown>;
    } catch (error) {
      if (error instanceof MissingSchemaError) throw error;
      throw new PoisonInputError(
        'decode',
        `corrupt Avro body for schema id ${schemaId}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  private planFor(schemaId: number, schemas: Readonly<Record<number, string>>): ReadPlan {
    let plan = this.plans.get(schemaId);
    if (plan) return plan;
    const text = schemas[schemaId];
    if (text === undefined) throw new MissingSchemaError(schemaId);
    const writer = avro.Type.forSchema(JSON.parse(text));
    const reader = this.reader;
    // As the registry client: an equal reader reads as is, another resolves from the writer.
    if (!reader) plan = { type: writer };
    else if (reader.equals(writer)) plan = { type: reader };
    else plan = { type: reader, resolver: reader.createResolver(writer) };
    this.plans.set(schemaId, plan);
    return plan;
  }
}

/** The main thread sent a row without its writer schema: a bug, not bad input. */
class MissingSchemaError extends Error {
  constructor(schemaId: number) {
    super(`no writer schema was sent for schema id ${schemaId}`);
  }
}
