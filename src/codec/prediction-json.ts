import type { PredictionRecord } from '../wire-contract.js';

/** Strings that repeat on every record (model, labels, topics), quoted once. */
const quoted = new Map<string, string>();
const MAX_QUOTED = 10_000;

function quote(text: string): string {
  let result = quoted.get(text);
  if (result === undefined) {
    result = JSON.stringify(text);
    if (quoted.size < MAX_QUOTED) quoted.set(text, result);
  }
  return result;
}

function numberOrNull(value: number | null): string {
  return value !== null && Number.isFinite(value) ? String(value) : 'null';
}

function topKJson(topK: PredictionRecord['topK']): string {
  if (topK === null) return 'null';
  let json = '[';
  for (let i = 0; i < topK.length; i++) {
    const { label, probability } = topK[i]!;
    json += `${i > 0 ? ',' : ''}{"label":${quote(label)},"probability":${numberOrNull(probability)}}`;
  }
  return `${json}]`;
}

/**
 * JSON.stringify(record) for the fixed prediction shape, byte for byte, without walking the
 * object generically: the output encoding runs once per event on the main thread.
 */
export function predictionJson(record: PredictionRecord): string {
  const { interval, source } = record;
  return (
    `{"model":${quote(record.model)},"modelVersion":${quote(record.modelVersion)}` +
    `,"label":${record.label === null ? 'null' : quote(record.label)}` +
    `,"confidence":${numberOrNull(record.confidence)},"topK":${topKJson(record.topK)}` +
    `,"value":${numberOrNull(record.value)}` +
    `,"interval":${interval === null ? 'null' : `{"lower":${numberOrNull(interval.lower)},"upper":${numberOrNull(interval.upper)}}`}` +
    `,"source":{"topic":${quote(source.topic)},"partition":${source.partition},"offset":${JSON.stringify(source.offset)}}` +
    `,"eventTimestamp":${numberOrNull(record.eventTimestamp)},"predictedAt":${numberOrNull(record.predictedAt)}}`
  );
}
