import { PoisonInputError } from '../errors.js';
import type { OutputSpec } from './model-manifest.js';

export interface RankedLabel {
  label: string;
  probability: number;
}

/** What the model said about one event, in the terms model.json declares. */
export type Prediction =
  | { kind: 'classification'; label: string; confidence: number; topK: RankedLabel[] }
  | { kind: 'regression'; value: number; interval?: { lower: number; upper: number } };

/** One row's result: its prediction, or why the model could not predict it. */
export type RowResult = Prediction | PoisonInputError;

/** Width of one output row: one probability per label, or one value. */
export function outputWidth(output: OutputSpec): number {
  if (output.kind === 'classification') return output.labels.length;
  return output.interval ? 3 : 1;
}

/**
 * Reads row `index` of the model's output tensor and turns it into a Prediction. A row holding
 * NaN or ±Infinity is no answer: it is a PoisonInputError ("non-finite-output"), never a
 * prediction with a null score.
 */
export function postprocess(output: OutputSpec, values: Float32Array, index: number): RowResult {
  const width = outputWidth(output);
  const row = values.subarray(index * width, (index + 1) * width);
  for (let i = 0; i < width; i++) {
    if (!Number.isFinite(row[i])) {
      return new PoisonInputError('infer', `the model answered ${row[i]} for this row`, {
        reason: 'non-finite-output',
      });
    }
  }
  if (output.kind === 'regression') {
    const value = row[0]!;
    return output.interval
      ? { kind: 'regression', value, interval: { lower: row[1]!, upper: row[2]! } }
      : { kind: 'regression', value };
  }
  const ranked = output.labels
    .map((label, i) => ({ label, probability: row[i]! }))
    .sort((a, b) => b.probability - a.probability);
  const best = ranked[0]!;
  return {
    kind: 'classification',
    label: best.label,
    confidence: best.probability,
    topK: ranked.slice(0, output.topK ?? output.labels.length),
  };
}
