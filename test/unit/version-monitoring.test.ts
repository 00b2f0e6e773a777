/**
 * Version monitoring: the references model.json declares become drift trackers of every feature
 * kind, the output's drift follows the answers (top label shares, regression value), data-quality
 * counters are bound per model and feature (at 0 from the start), and shadow answers compare with
 * the primary's by label or within a tolerance.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PoisonInputError } from '../../src/errors.js';
import { readModelManifest } from '../../src/model/model-manifest.js';
import type { Prediction } from '../../src/model/postprocessor.js';
import { WorkerMetrics } from '../../src/observability/metrics.js';
import {
  OutputDrift,
  featureReferences,
  monitoringFor,
} from '../../src/observability/version-monitoring.js';
import { compareAnswers } from '../../src/pipeline/outcome-metrics.js';

const MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models');

const classified = (label: string, probabilities: Record<string, number>): Prediction => {
  const topK = Object.entries(probabilities)
    .map(([name, probability]) => ({ label: name, probability }))
    .sort((a, b) => b.probability - a.probability);
  return { kind: 'classification', label, confidence: probabilities[label]!, topK };
};

describe('version monitoring', () => {
  test('the example models track drift on every feature kind they declare a reference for', () => {
    const fraud = featureReferences(readModelManifest(path.join(MODELS_DIR, 'fraud-mlp/1')));
    const kinds = new Map(fraud.map((reference) => [reference.name, reference.kind]));
    assert.equal(kinds.get('amount'), 'number');
    assert.equal(kinds.get('is_foreign'), 'boolean');
    assert.equal(kinds.get('channel'), 'category');
    const channel = fraud.find((reference) => reference.name === 'channel')!;
    assert.equal(channel.column, 27, 'the one-hot columns after 27 single-column features');
    const embedding = featureReferences(
      readModelManifest(path.join(MODELS_DIR, 'embedding-mlp/1')),
    );
    assert.deepEqual(
      embedding.map((reference) => reference.kind),
      ['vector'],
    );
  });

  test('output drift, classification: top label shares against the reference', () => {
    const manifest = readModelManifest(path.join(MODELS_DIR, 'fraud-mlp/1'));
    const drift = new OutputDrift(manifest.output, 100_000);
    assert.equal(drift.psi(), undefined, 'no answer yet');
    const [legit, fraud] =
      manifest.output.kind === 'classification' ? manifest.output.reference!.proportions : [];
    const answers = [
      ...Array.from({ length: Math.round(legit! * 10_000) }, () =>
        classified('legit', { legit: 0.9, fraud: 0.1 }),
      ),
      ...Array.from({ length: Math.round(fraud! * 10_000) }, () =>
        classified('fraud', { legit: 0.2, fraud: 0.8 }),
      ),
      new PoisonInputError('infer', 'skipped'),
      undefined,
    ];
    drift.observe(answers, 1);
    assert.ok(Math.abs(drift.psi()!) < 1e-6, `as the reference: ${drift.psi()}`);
    const flagged = new OutputDrift(manifest.output, 1_000);
    flagged.observe(
      Array.from({ length: 100 }, (_, i) =>
        classified(i < 50 ? 'fraud' : 'legit', { legit: 0.5, fraud: 0.5 }),
      ),
      1,
    );
    assert.ok(flagged.psi()! > 0.2, 'half flagged as fraud against 5%: a shift');
  });

  test('output drift, regression: bins over the predicted value; a stride samples', () => {
    const output = {
      name: 'y',
      kind: 'regression' as const,
      reference: { edges: [0], proportions: [0.5, 0.5] },
    };
    const drift = new OutputDrift(output, 1_000);
    const answers: Prediction[] = Array.from({ length: 100 }, (_, i) => ({
      kind: 'regression',
      value: i % 2 === 0 ? -1 : 1,
    }));
    drift.observe(answers, 1);
    assert.ok(Math.abs(drift.psi()!) < 1e-12);
    const sampled = new OutputDrift(output, 1_000);
    sampled.observe(answers, 2); // every other answer: all -1
    assert.ok(sampled.psi()! > 1);
  });

  test('data-quality counters start at 0 per model and feature, and count', async () => {
    const metrics = new WorkerMetrics();
    const manifest = readModelManifest(path.join(MODELS_DIR, 'fraud-mlp/1'));
    const { quality } = monitoringFor(manifest, metrics, 100);
    const text = async (name: string) => metrics.registry.getSingleMetricAsString(name);
    assert.match(
      await text('inference_feature_defaulted_total'),
      /inference_feature_defaulted_total\{model="fraud-mlp",feature="channel"\} 0/,
    );
    const hour = manifest.features.findIndex((feature) => feature.name === 'hour_of_day');
    const channel = manifest.features.findIndex((feature) => feature.name === 'channel');
    const counts = () => manifest.features.map(() => 0);
    const defaulted = counts();
    const outOfRange = counts();
    outOfRange[hour] = 1;
    defaulted[channel] = 2;
    outOfRange[channel] = 5; // a feature without a range has no series to count in
    quality.add(defaulted, outOfRange);
    assert.match(await text('inference_feature_defaulted_total'), /feature="channel"\} 2/);
    const ranges = await text('inference_feature_out_of_range_total');
    assert.match(ranges, /feature="hour_of_day"\} 1/);
    assert.doesNotMatch(ranges, /feature="channel"/, 'no series for a feature without a range');
  });

  test('shadow comparison: same label agrees; the shift is the probability of the primary label', () => {
    const primary = classified('fraud', { fraud: 0.7, legit: 0.3 });
    const same = compareAnswers(primary, classified('fraud', { fraud: 0.9, legit: 0.1 }), 0)!;
    assert.equal(same.agree, true);
    assert.ok(Math.abs(same.shift - 0.2) < 1e-12);
    const other = compareAnswers(primary, classified('legit', { fraud: 0.4, legit: 0.6 }), 0)!;
    assert.equal(other.agree, false);
    assert.ok(Math.abs(other.shift - -0.3) < 1e-12);
    const value = (v: number): Prediction => ({ kind: 'regression', value: v });
    assert.deepEqual(compareAnswers(value(1), value(1.05), 0.1), { agree: true, shift: 1.05 - 1 });
    assert.equal(compareAnswers(value(1), value(1.2), 0.1)!.agree, false);
    assert.equal(compareAnswers(value(1), primary, 0), undefined, 'other output kinds: none');
  });
});
