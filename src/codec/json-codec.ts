import { PoisonInputError } from '../errors.js';
import type { PredictionRecord } from '../wire-contract.js';
import type { EventDecoder, PredictionEncoder } from './event-decoder.js';
import { predictionJson } from './prediction-json.js';

/** Decodes a JSON event value into a record; anything but a JSON object is poison. */
export function decodeJsonRecord(value: Buffer | null): Record<string, unknown> {
  if (value === null || value.length === 0) {
    throw new PoisonInputError('decode', 'empty value (tombstone or no payload)', {
      reason: 'empty',
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    throw new PoisonInputError('decode', `malformed JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new PoisonInputError(
      'decode',
      `expected a JSON object, got ${Array.isArray(parsed) ? 'array' : typeof parsed}`,
    );
  }
  return parsed as Record<string, unknown>;
}

export const jsonEventDecoder: EventDecoder = { decode: decodeJsonRecord };

export const jsonPredictionEncoder: PredictionEncoder<PredictionRecord> = {
  encode: (record) => Buffer.from(predictionJson(record)),
};
