/**
 * The wire contract: what the worker writes to Kafka and what its consumers (the client library,
 * any other reader) rely on. Header names and the prediction value's shape live here, below every
 * stage, so that codecs, the pipeline and the client share one definition.
 */

/** The provenance headers a prediction may carry (kafka.predictionHeaders). */
export const PREDICTION_HEADER_NAMES = [
  'source.topic',
  'source.partition',
  'source.offset',
  'model.name',
  'model.version',
  'model.provider',
] as const;
export type PredictionHeaderName = (typeof PREDICTION_HEADER_NAMES)[number];

/** Provenance headers of a prediction (which ones: kafka.predictionHeaders, none by default). */
export const PREDICTION_HEADERS = {
  sourceTopic: 'source.topic',
  sourcePartition: 'source.partition',
  sourceOffset: 'source.offset',
  modelName: 'model.name',
  modelVersion: 'model.version',
  modelProvider: 'model.provider',
} as const satisfies Record<string, PredictionHeaderName>;

/**
 * Request/reply: an input carrying a reply topic (one that replies.allowedTopics allows) gets its prediction on that topic too, with the correlation id carried back.
 */
export const REQUEST_HEADERS = {
  replyTopic: 'reply.topic',
  correlationId: 'correlation.id',
} as const;

/** Headers added to a dead-lettered record, beside its original headers. */
export const DEAD_LETTER_HEADERS = {
  sourceTopic: 'dlq.source.topic',
  sourcePartition: 'dlq.source.partition',
  sourceOffset: 'dlq.source.offset',
  stage: 'dlq.error.stage',
  /** One word: too-large, empty, malformed, unknown-schema, invalid-feature, model-rejected, ... */
  reason: 'dlq.error.reason',
  errorClass: 'dlq.error.class',
  message: 'dlq.error.message',
  timestamp: 'dlq.timestamp',
  /** Only on a dead letter trimmed because the whole record was too large for the broker. */
  originalSize: 'dlq.original.size',
  originalSha256: 'dlq.original.sha256',
} as const;

/** W3C trace context headers: the prediction continues the input's trace (trace-context.ts). */
export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

/** The value of a prediction record (JSON here; the Avro output schema mirrors it). */
export interface PredictionRecord {
  model: string;
  modelVersion: string;
  /** Classification: the most probable label and its probability. */
  label: string | null;
  confidence: number | null;
  /** Classification: labels ranked by probability, as many as model.json's topK. */
  topK: { label: string; probability: number }[] | null;
  /** Regression: the predicted value, and its prediction interval when the model gives one. */
  value: number | null;
  interval: { lower: number; upper: number } | null;
  source: { topic: string; partition: number; offset: string };
  /** Input record timestamp and prediction time, ms since epoch. */
  eventTimestamp: number;
  predictedAt: number;
}
