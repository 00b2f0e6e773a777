import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ModelLoadError, errorMessage } from '../errors.js';

/**
 * model.json: the model's own declaration of how an event becomes its input row and what its
 * output means. Serving reads the same file training wrote, so the two cannot drift apart.
 */
/**
 * A feature's training distribution, for drift monitoring (number and boolean features, the norm
 * of a vector, a regression's value): bins
 * (−∞, edges[0]), [edges[0], edges[1]), …, [edges[last], +∞) and the share of training rows in
 * each (edges.length + 1 proportions).
 */
const referenceSchema = z
  .object({
    edges: z.array(z.number()).min(1),
    proportions: z.array(z.number().min(0).max(1)),
  })
  .refine((reference) => reference.proportions.length === reference.edges.length + 1, {
    message: 'expected one more proportion than edges',
  })
  .refine(
    (reference) => reference.edges.every((edge, i) => i === 0 || edge > reference.edges[i - 1]!),
    {
      message: 'expected ascending edges',
    },
  );

/** A category feature's training shares: one proportion per category, in declared order. */
const categoryReferenceSchema = z.object({
  proportions: z.array(z.number().min(0).max(1)).min(1),
});

/** Sane shares: a distribution sums to about 1 (rounded shares are fine). */
const sumsToOne = (reference: { proportions: number[] }) =>
  Math.abs(reference.proportions.reduce((sum, share) => sum + share, 0) - 1) <= 0.01;
const SUMS_TO_ONE = { message: 'expected proportions summing to 1' };

const featureBase = {
  name: z.string().min(1),
  doc: z.string().optional(),
  required: z.boolean().default(false),
};

export const featureSchema = z.discriminatedUnion('type', [
  z
    .object({
      ...featureBase,
      type: z.literal('number'),
      default: z.number().optional(),
      reference: referenceSchema.refine(sumsToOne, SUMS_TO_ONE).optional(),
      /** The range training saw: values outside it are counted (inference_feature_out_of_range_total). */
      min: z.number().optional(),
      max: z.number().optional(),
      /**
       * What a value outside [min, max] is: "count" (served and counted; the default) or
       * "poison" (counted and dead-lettered).
       */
      outOfRange: z.enum(['count', 'poison']).optional(),
    })
    .refine((f) => f.min === undefined || f.max === undefined || f.min <= f.max, {
      message: 'expected min <= max',
      path: ['max'],
    }),
  z.object({
    ...featureBase,
    type: z.literal('boolean'),
    default: z.boolean().optional(),
    reference: referenceSchema.refine(sumsToOne, SUMS_TO_ONE).optional(),
  }),
  z
    .object({
      ...featureBase,
      type: z.literal('category'),
      categories: z.array(z.string()).min(1),
      default: z.string().optional(),
      /** Drift: the share of each category among training rows that had one. */
      reference: categoryReferenceSchema.refine(sumsToOne, SUMS_TO_ONE).optional(),
    })
    .refine((f) => !f.reference || f.reference.proportions.length === f.categories.length, {
      message: 'expected one proportion per category',
      path: ['reference', 'proportions'],
    }),
  z.object({
    ...featureBase,
    type: z.literal('vector'),
    length: z.number().int().min(1),
    default: z.array(z.number()).optional(),
    /** Drift of the vector's Euclidean norm: bins over the norm, as for a number feature. */
    reference: referenceSchema.refine(sumsToOne, SUMS_TO_ONE).optional(),
  }),
]);

export const outputSchema = z
  .discriminatedUnion('kind', [
    z.object({
      name: z.string().min(1),
      kind: z.literal('classification'),
      labels: z.array(z.string()).min(2),
      /** How many ranked labels each prediction carries. Default: all labels. */
      topK: z.number().int().min(1).optional(),
      /** Output drift: the share of each label as the top label on reference data, in order. */
      reference: categoryReferenceSchema.refine(sumsToOne, SUMS_TO_ONE).optional(),
    }),
    z.object({
      name: z.string().min(1),
      kind: z.literal('regression'),
      /** The output row is [value, lower, upper]: a prediction interval around the value. */
      interval: z.boolean().optional(),
      /** Output drift: bins over the predicted value on reference data. */
      reference: referenceSchema.refine(sumsToOne, SUMS_TO_ONE).optional(),
    }),
  ])
  .refine(
    (output) =>
      output.kind !== 'classification' ||
      !output.reference ||
      output.reference.proportions.length === output.labels.length,
    { message: 'expected one proportion per label', path: ['reference', 'proportions'] },
  );

export const modelManifestSchema = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  description: z.string().optional(),
  input: z.object({ name: z.string().min(1), type: z.literal('float32') }),
  output: outputSchema,
  features: z.array(featureSchema).min(1),
  /**
   * Execution providers this model prefers, in order, when the worker's device is "auto"
   * (e.g. ["cpu"] for a model too small to gain from a GPU). Default: ["cuda", "cpu"].
   */
  executionProviders: z
    .array(z.enum(['cuda', 'webgpu', 'cpu']))
    .min(1)
    .default(['cuda', 'cpu']),
  /** Batch sizes used to warm the session up at load. Default: [1]. */
  preferredBatchSizes: z.array(z.number().int().min(1)).default([1]),
  maxBatchSize: z.number().int().min(1).optional(),
});

export type ModelManifest = z.infer<typeof modelManifestSchema>;
export type FeatureSpec = z.infer<typeof featureSchema>;
export type OutputSpec = z.infer<typeof outputSchema>;

export const MODEL_FILE = 'model.onnx';
export const MANIFEST_FILE = 'model.json';

export function readModelManifest(modelDir: string): ModelManifest {
  const path = join(modelDir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ModelLoadError(`cannot read ${path}: ${errorMessage(error)}`);
  }
  const result = modelManifestSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ModelLoadError(`${path}: "${issue.path.join('.')}": ${issue.message}`);
  }
  return result.data;
}

/** Floats a feature occupies in the input row. */
export function featureWidth(feature: FeatureSpec): number {
  if (feature.type === 'category') return feature.categories.length;
  if (feature.type === 'vector') return feature.length;
  return 1;
}

/** Column of each feature's first float in the input row, in feature order. */
export function featureColumns(manifest: ModelManifest): number[] {
  let column = 0;
  return manifest.features.map((feature) => {
    const start = column;
    column += featureWidth(feature);
    return start;
  });
}

export function rowWidth(manifest: ModelManifest): number {
  return manifest.features.reduce((width, feature) => width + featureWidth(feature), 0);
}
