import { PoisonInputError } from '../errors.js';

/** Confluent wire format: magic byte 0, then a 4-byte big-endian schema id, then the Avro body. */
export const WIRE_HEADER_BYTES = 5;

/** The writer schema id of a Confluent-framed value; bad framing is poison. */
export function readSchemaId(value: Buffer | null): number {
  if (value === null || value.length < WIRE_HEADER_BYTES) {
    throw new PoisonInputError(
      'decode',
      `too short for the Confluent wire format: ${value?.length ?? 0} bytes`,
      { reason: value === null || value.length === 0 ? 'empty' : 'malformed' },
    );
  }
  if (value[0] !== 0) {
    throw new PoisonInputError(
      'decode',
      `wrong magic byte ${value[0]}, expected 0 (Confluent wire format)`,
    );
  }
  return value.readInt32BE(1);
}
