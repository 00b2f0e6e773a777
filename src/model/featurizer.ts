import { PoisonInputError } from '../errors.js';
import { featureWidth, rowWidth, type FeatureSpec, type ModelManifest } from './model-manifest.js';

/**
 * Where data-quality observations go (by feature index in model.json): a missing field filled
 * with its default (or the neutral value), a number outside the declared [min, max].
 */
export interface FeatureQuality {
  defaulted(feature: number): void;
  outOfRange(feature: number): void;
}

/**
 * Turns a decoded event into the model's float32 input row, exactly as model.json declares:
 * numbers as is, booleans as 1/0, categories one-hot, vectors element by element.
 * Missing required fields, wrong types, NaN, Infinity and numbers float32 cannot hold are poison,
 * and so are numbers outside [min, max] where the feature says `outOfRange: "poison"`.
 */
export class Featurizer {
  readonly width: number;

  constructor(private readonly manifest: ModelManifest) {
    this.width = rowWidth(manifest);
  }

  /**
   * Writes the row for `record` into `target` at `offset` (a batch buffer), or a fresh row;
   * `quality` hears of defaulted and out-of-range fields.
   */
  encode(
    record: Record<string, unknown>,
    target: Float32Array = new Float32Array(this.width),
    offset = 0,
    quality?: FeatureQuality,
  ): Float32Array {
    let position = offset;
    const { features } = this.manifest;
    for (let index = 0; index < features.length; index++) {
      const feature = features[index]!;
      // Own fields only: a feature named like an Object.prototype member must not read it.
      let value = Object.hasOwn(record, feature.name) ? record[feature.name] : undefined;
      if (value === undefined || value === null) {
        value = defaultOf(feature);
        quality?.defaulted(index);
      }
      writeFeature(feature, value, target, position);
      if (feature.type === 'number' && outOfRange(feature, value as number)) {
        quality?.outOfRange(index);
        if (feature.outOfRange === 'poison') {
          throw poison(feature, `${String(value)} is outside [${feature.min}, ${feature.max}]`);
        }
      }
      position += featureWidth(feature);
    }
    return target;
  }
}

type NumberFeature = Extract<FeatureSpec, { type: 'number' }>;

function outOfRange(feature: NumberFeature, value: number): boolean {
  return (
    (feature.min !== undefined && value < feature.min) ||
    (feature.max !== undefined && value > feature.max)
  );
}

/** The value a missing field takes: its declared default, else neutral; poison if required. */
function defaultOf(feature: FeatureSpec): unknown {
  if (feature.default !== undefined) return feature.default;
  if (feature.required) throw poison(feature, 'is required but missing');
  return feature.type === 'category' ? undefined : neutral(feature);
}

function neutral(feature: FeatureSpec): unknown {
  if (feature.type === 'vector') return new Array<number>(feature.length).fill(0);
  return feature.type === 'boolean' ? false : 0;
}

function writeFeature(feature: FeatureSpec, value: unknown, row: Float32Array, at: number): void {
  switch (feature.type) {
    case 'number':
      row[at] = finiteNumber(feature, value);
      return;
    case 'boolean':
      if (typeof value !== 'boolean')
        throw poison(feature, `expected a boolean, got ${typeName(value)}`);
      row[at] = value ? 1 : 0;
      return;
    case 'category': {
      row.fill(0, at, at + feature.categories.length);
      if (value === undefined) return; // absent optional category: all zeros
      if (typeof value !== 'string')
        throw poison(feature, `expected a string, got ${typeName(value)}`);
      const index = feature.categories.indexOf(value);
      if (index < 0) {
        throw poison(feature, `"${value}" is not one of ${feature.categories.join(', ')}`);
      }
      row[at + index] = 1;
      return;
    }
    case 'vector': {
      if (!Array.isArray(value)) throw poison(feature, `expected an array, got ${typeName(value)}`);
      if (value.length !== feature.length) {
        throw poison(feature, `expected ${feature.length} numbers, got ${value.length}`);
      }
      for (let i = 0; i < value.length; i++) row[at + i] = finiteNumber(feature, value[i]);
      return;
    }
  }
}

function finiteNumber(feature: FeatureSpec, value: unknown): number {
  if (typeof value !== 'number') throw poison(feature, `expected a number, got ${typeName(value)}`);
  if (!Number.isFinite(value)) throw poison(feature, `expected a finite number, got ${value}`);
  // The row is float32: a double that rounds to ±Infinity there would reach the model as such.
  if (!Number.isFinite(Math.fround(value))) {
    throw poison(feature, `${value} is beyond float32's range (±3.4028235e38)`);
  }
  return value;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'string' ? `string "${value.slice(0, 40)}"` : typeof value;
}

function poison(feature: FeatureSpec, problem: string): PoisonInputError {
  return new PoisonInputError('featurize', `feature "${feature.name}" ${problem}`);
}
