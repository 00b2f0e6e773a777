import { readFileSync } from 'node:fs';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { SCHEMA_REGISTRY_URL } from '../../deploy/local/registry.js';

export const TRANSACTION_SCHEMA_PATH = 'schemas/fraud-transaction.avsc';

interface AvroRecordSchema {
  type: 'record';
  name: string;
  namespace?: string;
  fields: { name: string; type: unknown; default?: unknown }[];
}

export function transactionSchemaV1(): AvroRecordSchema {
  return JSON.parse(readFileSync(TRANSACTION_SCHEMA_PATH, 'utf8')) as AvroRecordSchema;
}

/** A later writer: adds a field with a default and drops the optional `email_age_days`. */
export function transactionSchemaV2(): AvroRecordSchema {
  const v1 = transactionSchemaV1();
  return {
    ...v1,
    fields: [
      ...v1.fields.filter((field) => field.name !== 'email_age_days'),
      { name: 'device_fingerprint', type: 'string', default: '' },
    ],
  };
}

export function testRegistry(): SchemaRegistry {
  return new SchemaRegistry({ host: SCHEMA_REGISTRY_URL });
}

export async function registerSchema(
  registry: SchemaRegistry,
  subject: string,
  schema: object,
): Promise<number> {
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
    { subject },
  );
  return id;
}
