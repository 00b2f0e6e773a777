/**
 * readModelManifest on the committed models (widths, defaults) and the ModelLoadError messages
 * for a model.json that is missing, not JSON, or breaks the schema.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ModelLoadError } from '../../src/errors.js';
import {
  featureWidth,
  readModelManifest,
  rowWidth,
  type FeatureSpec,
} from '../../src/model/model-manifest.js';
import { outputWidth } from '../../src/model/postprocessor.js';
import { classifyFailure } from '../../src/error-policy.js';

const MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'model-manifest-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let dirCounter = 0;
function modelDir(manifestText: string | undefined): string {
  const dir = path.join(tmp, `model-${dirCounter++}`);
  mkdirSync(dir);
  if (manifestText !== undefined) writeFileSync(path.join(dir, 'model.json'), manifestText);
  return dir;
}

function valid(): Record<string, unknown> {
  return {
    name: 'm',
    version: '1',
    input: { name: 'x', type: 'float32' },
    output: { name: 'y', kind: 'classification', labels: ['a', 'b'] },
    features: [{ name: 'f', type: 'number' }],
  };
}

function assertLoadError(dir: string, ...fragments: string[]): void {
  assert.throws(
    () => readModelManifest(dir),
    (error: unknown) => {
      assert.ok(error instanceof ModelLoadError, `expected ModelLoadError, got ${String(error)}`);
      assert.equal(classifyFailure(error), 'fatal');
      assert.ok(error.message.includes(path.join(dir, 'model.json')), error.message);
      for (const fragment of fragments) {
        assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
      }
      return true;
    },
  );
}

describe('committed models', () => {
  test('fraud-mlp/1: 30 floats wide, two labels, topK 2', () => {
    const manifest = readModelManifest(path.join(MODELS_DIR, 'fraud-mlp/1'));
    assert.equal(manifest.name, 'fraud-mlp');
    assert.equal(manifest.version, '1');
    assert.equal(rowWidth(manifest), 30);
    assert.equal(manifest.input.name, 'features');
    assert.equal(manifest.output.name, 'probabilities');
    assert.equal(manifest.output.kind, 'classification');
    assert.equal(outputWidth(manifest.output), 2);
    assert.deepEqual(manifest.preferredBatchSizes, [1, 8, 32, 64]);
    assert.equal(manifest.maxBatchSize, 256);
    const byType = (type: FeatureSpec['type']): number =>
      manifest.features.filter((feature) => feature.type === type).length;
    assert.equal(byType('number'), 22);
    assert.equal(byType('boolean'), 5);
    assert.equal(byType('category'), 1);
    const required = manifest.features.filter((f) => f.required).map((f) => f.name);
    assert.deepEqual(required, ['amount', 'hour_of_day', 'account_age_days']);
    const dayOfWeek = manifest.features.find((f) => f.name === 'day_of_week');
    assert.equal(dayOfWeek?.required, false, 'required defaults to false');
    assert.equal(dayOfWeek?.default, 3);
  });

  test('fraud-mlp/2 has the same width as version 1', () => {
    const manifest = readModelManifest(path.join(MODELS_DIR, 'fraud-mlp/2'));
    assert.equal(manifest.version, '2');
    assert.equal(rowWidth(manifest), 30);
  });

  test('embedding-mlp/1: one 256-long vector, ten labels, topK 3', () => {
    const manifest = readModelManifest(path.join(MODELS_DIR, 'embedding-mlp/1'));
    assert.equal(rowWidth(manifest), 256);
    assert.equal(manifest.features.length, 1);
    const [feature] = manifest.features;
    assert.ok(feature);
    assert.equal(feature.type, 'vector');
    assert.equal(featureWidth(feature), 256);
    assert.equal(outputWidth(manifest.output), 10);
    assert.ok(manifest.output.kind === 'classification');
    assert.equal(manifest.output.topK, 3);
  });

  test('featureWidth per type', () => {
    assert.equal(featureWidth({ name: 'n', type: 'number', required: false }), 1);
    assert.equal(featureWidth({ name: 'b', type: 'boolean', required: false }), 1);
    assert.equal(
      featureWidth({ name: 'c', type: 'category', required: false, categories: ['x', 'y', 'z'] }),
      3,
    );
    assert.equal(featureWidth({ name: 'v', type: 'vector', required: false, length: 17 }), 17);
  });
});

describe('bad model.json', () => {
  test('preferredBatchSizes defaults to [1]', () => {
    const manifest = readModelManifest(modelDir(JSON.stringify(valid())));
    assert.deepEqual(manifest.preferredBatchSizes, [1]);
    assert.equal(manifest.maxBatchSize, undefined);
  });

  test('missing file', () => {
    assertLoadError(modelDir(undefined), 'cannot read', 'ENOENT');
  });

  test('missing directory', () => {
    const dir = path.join(tmp, 'no-such-dir');
    assertLoadError(dir, 'cannot read');
  });

  test('not JSON', () => {
    assertLoadError(modelDir('{"name": "m",'), 'cannot read');
  });

  test('missing name', () => {
    const manifest = valid();
    delete manifest.name;
    assertLoadError(modelDir(JSON.stringify(manifest)), '"name"');
  });

  test('input type other than float32', () => {
    assertLoadError(
      modelDir(JSON.stringify({ ...valid(), input: { name: 'x', type: 'int64' } })),
      '"input.type"',
      'float32',
    );
  });

  test('unknown feature type names the feature index', () => {
    assertLoadError(
      modelDir(JSON.stringify({ ...valid(), features: [{ name: 'f', type: 'text' }] })),
      '"features.0.type"',
    );
  });

  test('a category without categories', () => {
    assertLoadError(
      modelDir(
        JSON.stringify({
          ...valid(),
          features: [
            { name: 'ok', type: 'number' },
            { name: 'c', type: 'category', categories: [] },
          ],
        }),
      ),
      '"features.1.categories"',
    );
  });

  test('a vector without a length', () => {
    assertLoadError(
      modelDir(JSON.stringify({ ...valid(), features: [{ name: 'v', type: 'vector' }] })),
      '"features.0.length"',
    );
  });

  test('a default of the wrong type', () => {
    assertLoadError(
      modelDir(
        JSON.stringify({ ...valid(), features: [{ name: 'n', type: 'number', default: 'x' }] }),
      ),
      '"features.0.default"',
    );
  });

  test('no features', () => {
    assertLoadError(modelDir(JSON.stringify({ ...valid(), features: [] })), '"features"');
  });

  test('classification with a single label', () => {
    assertLoadError(
      modelDir(
        JSON.stringify({
          ...valid(),
          output: { name: 'y', kind: 'classification', labels: ['only'] },
        }),
      ),
      '"output.labels"',
    );
  });

  test('unknown output kind', () => {
    assertLoadError(
      modelDir(JSON.stringify({ ...valid(), output: { name: 'y', kind: 'ranking' } })),
      '"output.kind"',
    );
  });

  test('a regression output is accepted', () => {
    const manifest = readModelManifest(
      modelDir(JSON.stringify({ ...valid(), output: { name: 'y', kind: 'regression' } })),
    );
    assert.equal(outputWidth(manifest.output), 1);
  });

  test('a category reference needs one proportion per category', () => {
    assertLoadError(
      modelDir(
        JSON.stringify({
          ...valid(),
          features: [
            {
              name: 'c',
              type: 'category',
              categories: ['a', 'b'],
              reference: { proportions: [1] },
            },
          ],
        }),
      ),
      '"features.0.reference.proportions"',
      'one proportion per category',
    );
  });

  test('reference proportions must sum to 1', () => {
    assertLoadError(
      modelDir(
        JSON.stringify({
          ...valid(),
          features: [
            { name: 'n', type: 'number', reference: { edges: [1], proportions: [0.2, 0.2] } },
          ],
        }),
      ),
      '"features.0.reference"',
      'summing to 1',
    );
  });

  test('a classifier output reference needs one proportion per label', () => {
    assertLoadError(
      modelDir(
        JSON.stringify({
          ...valid(),
          output: {
            name: 'y',
            kind: 'classification',
            labels: ['a', 'b', 'c'],
            reference: { proportions: [0.5, 0.5] },
          },
        }),
      ),
      '"output.reference.proportions"',
      'one proportion per label',
    );
  });

  test('min above max names max', () => {
    assertLoadError(
      modelDir(
        JSON.stringify({ ...valid(), features: [{ name: 'n', type: 'number', min: 2, max: 1 }] }),
      ),
      '"features.0.max"',
      'min <= max',
    );
  });
});
