import { featureColumns, type ModelManifest, type OutputSpec } from '../model/model-manifest.js';
import type { RowResult } from '../model/postprocessor.js';
import { FeatureDrift, type FeatureReference } from './feature-drift.js';
import type { WorkerMetrics } from './metrics.js';

/**
 * What one serving version watches about its inputs and answers, as its model.json declares:
 * drift of every feature with a reference (each kind: number, boolean, category, vector norm),
 * drift of its output (top label shares or predicted value), and data quality (fields defaulted,
 * numbers outside [min, max]).
 */
export interface VersionMonitoring {
  features?: FeatureDrift;
  output?: OutputDrift;
  quality: QualityCounts;
}

/** Data-quality counts of a batch, per feature in model.json order (row-input.ts). */
export interface QualityCounts {
  add(defaulted: readonly number[], outOfRange: readonly number[]): void;
}

export function monitoringFor(
  manifest: ModelManifest,
  metrics: WorkerMetrics,
  driftWindow: number,
): VersionMonitoring {
  const references = featureReferences(manifest);
  return {
    features: references.length > 0 ? new FeatureDrift(references, driftWindow) : undefined,
    output: manifest.output.reference ? new OutputDrift(manifest.output, driftWindow) : undefined,
    quality: featureQuality(manifest, metrics),
  };
}

/** The features whose model.json entry carries a reference distribution, by kind. */
export function featureReferences(manifest: ModelManifest): FeatureReference[] {
  const columns = featureColumns(manifest);
  return manifest.features.flatMap((feature, index): FeatureReference[] => {
    const column = columns[index]!;
    const { name } = feature;
    switch (feature.type) {
      case 'number':
      case 'boolean':
        return feature.reference
          ? [{ name, kind: feature.type, column, ...feature.reference }]
          : [];
      case 'category':
        return feature.reference ? [{ name, kind: 'category', column, ...feature.reference }] : [];
      case 'vector':
        return feature.reference
          ? [{ name, kind: 'vector', column, length: feature.length, ...feature.reference }]
          : [];
    }
  });
}

/**
 * Counters bound once per model and feature, so that counting on the hot path is an increment
 * (and nothing at all for the fields that arrive as they should).
 */
function featureQuality(manifest: ModelManifest, metrics: WorkerMetrics): QualityCounts {
  const model = manifest.name;
  const defaulted = manifest.features.map((feature) =>
    metrics.featureDefaulted.labels({ model, feature: feature.name }),
  );
  const outOfRange = manifest.features.map((feature) =>
    feature.type === 'number' && (feature.min !== undefined || feature.max !== undefined)
      ? metrics.featureOutOfRange.labels({ model, feature: feature.name })
      : undefined,
  );
  // Series at 0 from the start: an alert on a rate sees the first defaulted field.
  for (const counter of [...defaulted, ...outOfRange]) counter?.inc(0);
  return {
    add(defaultedCounts, outOfRangeCounts) {
      defaultedCounts.forEach((count, feature) => count > 0 && defaulted[feature]?.inc(count));
      outOfRangeCounts.forEach((count, feature) => count > 0 && outOfRange[feature]?.inc(count));
    },
  };
}

/**
 * Drift of a version's answers against model.json's output reference: for a classification the
 * share of each label as the top one, for a regression bins over the predicted value.
 */
export class OutputDrift {
  private readonly drift: FeatureDrift;
  private readonly width: number;

  constructor(
    private readonly output: OutputSpec,
    window: number,
  ) {
    const name = output.name;
    if (output.kind === 'classification') {
      this.width = output.labels.length;
      this.drift = new FeatureDrift(
        [{ name, kind: 'category', column: 0, proportions: output.reference!.proportions }],
        window,
      );
    } else {
      this.width = 1;
      this.drift = new FeatureDrift([{ name, column: 0, ...output.reference! }], window);
    }
  }

  /** Counts every `stride`-th answer (poison rows and absent ones are skipped). */
  observe(results: readonly (RowResult | undefined)[], stride: number): void {
    const sampled = Math.ceil(results.length / stride);
    const rows = new Float32Array(sampled * this.width);
    let count = 0;
    for (let index = 0; index < results.length; index += stride) {
      const result = results[index];
      if (!result || result instanceof Error) continue;
      const base = count * this.width;
      if (result.kind === 'classification' && this.output.kind === 'classification') {
        const label = this.output.labels.indexOf(result.label);
        if (label < 0) continue;
        rows[base + label] = 1;
      } else if (result.kind === 'regression') {
        rows[base] = result.value;
      } else {
        continue;
      }
      count++;
    }
    this.drift.observe(rows, count, this.width);
  }

  /** PSI over the window; undefined before the first answer. */
  psi(): number | undefined {
    return this.drift.psi().get(this.output.name);
  }
}
