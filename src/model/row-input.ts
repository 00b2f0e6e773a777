import type { FailureStage, PoisonReason } from '../errors.js';

/** How a row's value is encoded: what the inference thread decodes it with. */
export const VALUE_FORMAT = { json: 0, avro: 1 } as const;
export type ValueFormat = (typeof VALUE_FORMAT)[keyof typeof VALUE_FORMAT];

/**
 * A batch's event values as the inference thread gets them: every value's bytes back to back in
 * one buffer, not one object per event. Row i is values[ends[i - 1] ?? 0, ends[i]).
 */
export interface RowInput {
  values: Uint8Array;
  ends: Int32Array;
  formats: Uint8Array;
  /** 1 where the row's defaulted and out-of-range fields are counted (once per event). */
  countQuality: Uint8Array;
  /** The writer schema text of each Avro schema id the rows use (writer-schemas.ts). */
  schemas: Record<number, string>;
}

/** Why a row has no features: a poison error's parts, as they cross the thread boundary. */
export interface RowFailure {
  index: number;
  stage: FailureStage;
  reason: PoisonReason;
  message: string;
}

/** What the inference thread made of a RowInput. */
export interface PreparedRows {
  /** The rows that did not fail, featurized, row-major, in input order. */
  rows: Float32Array;
  /** How many rows `rows` holds. */
  count: number;
  failures: RowFailure[];
  /** Per input row, its id for the outcome join (feedback.idField), when one is configured. */
  feedbackIds?: (string | undefined)[];
  /** Per input row, its prediction cache key (undefined where it failed), with a cache in use. */
  cacheKeys?: (string | undefined)[];
  /** Per feature (model.json order): fields defaulted, numbers outside [min, max]. */
  defaulted: number[];
  outOfRange: number[];
}

/** One row to pack: its event's value, how it is encoded, and its Avro writer schema id if any. */
export interface RowValue {
  readonly event: { readonly value: Buffer | null };
  format: ValueFormat;
  countQuality: boolean;
  schemaId?: number;
}

/**
 * Packs rows into one RowInput: one copy of the bytes, no per-row object on the other side.
 * `schemaText` gives each Avro row's writer schema, resolved before the row joined its batch.
 */
export function packRowInput(
  rows: readonly RowValue[],
  schemaText: (schemaId: number) => string | undefined,
): RowInput {
  let total = 0;
  for (const row of rows) total += row.event.value?.length ?? 0;
  const values = new Uint8Array(total);
  const ends = new Int32Array(rows.length);
  const formats = new Uint8Array(rows.length);
  const countQuality = new Uint8Array(rows.length);
  const schemas: Record<number, string> = {};
  let at = 0;
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index]!;
    const value = row.event.value;
    if (value) {
      values.set(value, at);
      at += value.length;
    }
    ends[index] = at;
    formats[index] = row.format;
    countQuality[index] = row.countQuality ? 1 : 0;
    if (row.schemaId !== undefined && schemas[row.schemaId] === undefined) {
      const text = schemaText(row.schemaId);
      if (text === undefined) throw new Error(`schema id ${row.schemaId} was not resolved`);
      schemas[row.schemaId] = text;
    }
  }
  return { values, ends, formats, countQuality, schemas };
}
