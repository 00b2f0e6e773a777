import { OutputTooLargeError, errorClass, type PoisonInputError } from '../errors.js';
import type { PredictionHeaderName } from '../wire-contract.js';
import type { ModelIdentity } from '../model/loaded-model.js';
import type { Prediction } from '../model/postprocessor.js';
import type { OutgoingRecord } from '../kafka/transport.js';
import type { InFlightEvent } from './in-flight-event.js';
import {
  DEAD_LETTER_HEADERS,
  PREDICTION_HEADERS,
  REQUEST_HEADERS,
  TRACEPARENT,
  TRACESTATE,
  type PredictionRecord,
} from '../wire-contract.js';
import { childTraceParent } from './trace-context.js';

/** An output record before its topic is chosen. */
export type OutputMessage = Omit<OutgoingRecord, 'topic'>;
type OutputHeaders = OutgoingRecord['headers'];

/** Which provenance headers predictions carry, resolved once from the config. */
export type HeaderSelection = Readonly<Record<keyof typeof PREDICTION_HEADERS, boolean>>;

export function headerSelection(names: readonly PredictionHeaderName[]): HeaderSelection {
  const chosen = new Set<string>(names);
  const entries = Object.entries(PREDICTION_HEADERS).map(([key, name]) => [key, chosen.has(name)]);
  return Object.fromEntries(entries) as HeaderSelection;
}

const ALL_HEADERS = headerSelection(Object.values(PREDICTION_HEADERS));

export type { ModelIdentity };

export function predictionRecord(
  event: InFlightEvent,
  prediction: Prediction,
  model: ModelIdentity,
  predictedAt = Date.now(),
): PredictionRecord {
  const classification = prediction.kind === 'classification' ? prediction : undefined;
  return {
    model: model.name,
    modelVersion: model.version,
    label: classification?.label ?? null,
    confidence: classification?.confidence ?? null,
    topK: classification?.topK ?? null,
    value: prediction.kind === 'regression' ? prediction.value : null,
    interval: prediction.kind === 'regression' ? (prediction.interval ?? null) : null,
    source: { topic: event.topic, partition: event.partition, offset: event.offset },
    eventTimestamp: event.timestamp,
    predictedAt,
  };
}

/**
 * `traceparent`: the output's own, when tracing makes a span per event; else the input's is
 * continued with a new span id.
 */
export function predictionHeaders(
  event: InFlightEvent,
  model: ModelIdentity,
  include: HeaderSelection = ALL_HEADERS,
  traceparent = childTraceParent(event.headers[TRACEPARENT]),
): OutputHeaders {
  const headers: OutputHeaders = {};
  if (include.sourceTopic) headers[PREDICTION_HEADERS.sourceTopic] = event.topic;
  if (include.sourcePartition) headers[PREDICTION_HEADERS.sourcePartition] = `${event.partition}`;
  if (include.sourceOffset) headers[PREDICTION_HEADERS.sourceOffset] = event.offset;
  if (include.modelName) headers[PREDICTION_HEADERS.modelName] = model.name;
  if (include.modelVersion) headers[PREDICTION_HEADERS.modelVersion] = model.version;
  if (include.modelProvider) headers[PREDICTION_HEADERS.modelProvider] = model.provider;
  if (traceparent !== undefined) {
    headers[TRACEPARENT] = traceparent;
    const tracestate = event.headers[TRACESTATE];
    if (tracestate !== undefined) headers[TRACESTATE] = tracestate;
  }
  return headers;
}

/** The same prediction on the reply topic the request named, its correlation id carried back. */
export function replyRecord(
  event: InFlightEvent,
  output: OutgoingRecord,
): OutgoingRecord | undefined {
  const topic = event.headers[REQUEST_HEADERS.replyTopic];
  if (topic === undefined) return undefined;
  const correlationId = event.headers[REQUEST_HEADERS.correlationId];
  return {
    ...output,
    topic: topic.toString(),
    headers:
      correlationId === undefined
        ? output.headers
        : { ...output.headers, [REQUEST_HEADERS.correlationId]: correlationId },
  };
}

/**
 * The original key, value and headers, plus why and where it failed. When the record was too
 * large for the broker, the value is trimmed and the original's size and sha256 say what it was.
 */
export function deadLetterMessage(
  event: Pick<InFlightEvent, 'key' | 'value' | 'headers' | 'topic' | 'partition' | 'offset'>,
  error: PoisonInputError,
): OutputMessage {
  const trimmed = error instanceof OutputTooLargeError;
  return {
    key: event.key,
    value: trimmed ? (event.value?.subarray(0, error.keptBytes) ?? null) : event.value,
    headers: {
      ...event.headers,
      [DEAD_LETTER_HEADERS.sourceTopic]: event.topic,
      [DEAD_LETTER_HEADERS.sourcePartition]: String(event.partition),
      [DEAD_LETTER_HEADERS.sourceOffset]: event.offset,
      [DEAD_LETTER_HEADERS.stage]: error.stage,
      [DEAD_LETTER_HEADERS.reason]: error.reason,
      [DEAD_LETTER_HEADERS.errorClass]: errorClass(error),
      [DEAD_LETTER_HEADERS.message]: error.message,
      [DEAD_LETTER_HEADERS.timestamp]: new Date().toISOString(),
      ...(trimmed
        ? {
            [DEAD_LETTER_HEADERS.originalSize]: String(error.originalBytes),
            [DEAD_LETTER_HEADERS.originalSha256]: error.originalSha256,
          }
        : {}),
    },
  };
}
