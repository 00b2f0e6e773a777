import { AvroBodyDecoder } from '../codec/avro-body-decoder.js';
import { decodeJsonRecord } from '../codec/json-codec.js';
import { predictionCacheKey } from '../cache/prediction-cache.js';
import { PoisonInputError } from '../errors.js';
import { eventId } from '../feedback/feedback-store.js';
import { Featurizer, type FeatureQuality } from './featurizer.js';
import type { ModelManifest } from './model-manifest.js';
import { VALUE_FORMAT, type PreparedRows, type RowFailure, type RowInput } from './row-input.js';

/** What the rows of every batch need beyond the model itself (fixed at start-up). */
export interface RowPreparationOptions {
  /** codec.readerSchema's text: Avro values are read into it. */
  readerSchema?: string | undefined;
  /** feedback.idField: each row's id for the outcome join. */
  feedbackIdField?: string | undefined;
  /** With a prediction cache in use: its key prefix, and cache.keyField when one is set. */
  cacheKey?: { prefix: string; idField?: string | undefined } | undefined;
}

/**
 * Decode → featurize for a whole batch, in an inference thread: values in, one feature matrix
 * out, and for each row that has no features the poison reason it goes to the DLQ with. Only
 * poison is a row's failure; anything else is a bug and throws.
 */
export class RowPreparation {
  private readonly featurizer: Featurizer;
  private readonly avro: AvroBodyDecoder;

  constructor(
    private readonly manifest: ModelManifest,
    private readonly options: RowPreparationOptions,
  ) {
    this.featurizer = new Featurizer(manifest);
    this.avro = new AvroBodyDecoder(options.readerSchema);
  }

  prepare(input: RowInput): PreparedRows {
    const count = input.ends.length;
    const width = this.featurizer.width;
    const features = this.manifest.features.length;
    const matrix = new Float32Array(count * width);
    const failures: RowFailure[] = [];
    const defaulted = new Array<number>(features).fill(0);
    const outOfRange = new Array<number>(features).fill(0);
    const counting: FeatureQuality = {
      defaulted: (feature) => defaulted[feature]!++,
      outOfRange: (feature) => outOfRange[feature]!++,
    };
    const { feedbackIdField, cacheKey } = this.options;
    const feedbackIds =
      feedbackIdField !== undefined ? new Array<string | undefined>(count) : undefined;
    const cacheKeys = cacheKey ? new Array<string | undefined>(count) : undefined;
    const bytes = Buffer.from(
      input.values.buffer,
      input.values.byteOffset,
      input.values.byteLength,
    );
    let written = 0;
    let start = 0;
    for (let index = 0; index < count; index++) {
      const end = input.ends[index]!;
      const value = bytes.subarray(start, end);
      start = end;
      const offset = written * width;
      try {
        const record =
          input.formats[index] === VALUE_FORMAT.avro
            ? this.avro.decode(value, input.schemas)
            : decodeJsonRecord(value);
        if (feedbackIds) feedbackIds[index] = eventId(record[feedbackIdField!]);
        const quality = input.countQuality[index] === 1 ? counting : undefined;
        this.featurizer.encode(record, matrix, offset, quality);
        if (cacheKeys) {
          const id = cacheKey!.idField !== undefined ? record[cacheKey!.idField] : undefined;
          cacheKeys[index] = predictionCacheKey(
            cacheKey!.prefix,
            this.manifest,
            matrix.subarray(offset, offset + width),
            id != null ? String(id) : undefined,
          );
        }
        written++;
      } catch (error) {
        if (!(error instanceof PoisonInputError)) throw error;
        failures.push({ index, stage: error.stage, reason: error.reason, message: error.message });
      }
    }
    return {
      rows: matrix.slice(0, written * width),
      count: written,
      failures,
      ...(feedbackIds ? { feedbackIds } : {}),
      ...(cacheKeys ? { cacheKeys } : {}),
      defaulted,
      outOfRange,
    };
  }
}
