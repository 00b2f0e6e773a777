import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { ConsumedRecord } from '../kafka/transport.js';
import { PREDICTION_HEADERS, REQUEST_HEADERS, type PredictionRecord } from '../wire-contract.js';

/** A prediction as the worker wrote it, decoded, with its key and correlation id. */
export interface PredictionMessage extends PredictionRecord {
  /** The input event's key (the output keeps it). */
  key: string | null;
  /** Execution provider that computed it (cpu, cuda, webgpu). */
  provider: string | undefined;
  /** Request/reply: the id the request carried. */
  correlationId: string | undefined;
  /** W3C trace context of the prediction (a child span of the input's). */
  traceparent: string | undefined;
}

/**
 * Decodes a prediction record: JSON, or Avro in the Confluent wire format (magic byte 0) through
 * `registry`. Throws on a value that is neither.
 */
export async function decodePrediction(
  record: ConsumedRecord,
  registry: SchemaRegistry | undefined,
): Promise<PredictionMessage> {
  const value = record.value;
  if (value === null || value.length === 0) throw new Error('prediction record without a value');
  let body: PredictionRecord;
  if (value[0] === 0) {
    if (!registry) throw new Error('an Avro prediction needs a schema registry (registry.url)');
    body = (await registry.decode(value)) as PredictionRecord;
  } else {
    body = JSON.parse(value.toString('utf8')) as PredictionRecord;
  }
  const header = (name: string) => record.headers[name]?.toString();
  return {
    ...body,
    source: { ...body.source, offset: String(body.source.offset) },
    eventTimestamp: Number(body.eventTimestamp),
    predictedAt: Number(body.predictedAt),
    key: record.key?.toString() ?? null,
    provider: header(PREDICTION_HEADERS.modelProvider),
    correlationId: header(REQUEST_HEADERS.correlationId),
    traceparent: header('traceparent'),
  };
}
