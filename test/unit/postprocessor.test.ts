/**
 * postprocess: a row of the model's flat output tensor becomes a Prediction; classification is
 * ranked by probability (ties keep label order), truncated to topK, with the best label and its
 * confidence; regression is the single value of the row.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OutputSpec } from '../../src/model/model-manifest.js';
import { PoisonInputError } from '../../src/errors.js';
import { outputWidth, postprocess, type Prediction } from '../../src/model/postprocessor.js';

const f32 = (values: number[]): Float32Array => Float32Array.from(values);
const r = (x: number): number => Math.fround(x);

/** postprocess for a row that has an answer: fails the test on a PoisonInputError. */
function answer(spec: OutputSpec, values: Float32Array, index: number): Prediction {
  const result = postprocess(spec, values, index);
  assert.ok(!(result instanceof PoisonInputError), String(result));
  return result;
}

describe('classification', () => {
  const spec: OutputSpec = {
    name: 'p',
    kind: 'classification',
    labels: ['cat', 'dog', 'fox', 'owl'],
  };

  test('output width is the number of labels', () => {
    assert.equal(outputWidth(spec), 4);
  });

  test('ranks every label by probability, best first, with label and confidence', () => {
    const prediction = answer(spec, f32([0.1, 0.6, 0.05, 0.25]), 0);
    assert.deepEqual(prediction, {
      kind: 'classification',
      label: 'dog',
      confidence: r(0.6),
      topK: [
        { label: 'dog', probability: r(0.6) },
        { label: 'owl', probability: r(0.25) },
        { label: 'cat', probability: r(0.1) },
        { label: 'fox', probability: r(0.05) },
      ],
    });
  });

  test('topK truncates the ranking', () => {
    const prediction = answer({ ...spec, topK: 2 }, f32([0.1, 0.2, 0.3, 0.4]), 0);
    assert.equal(prediction.kind, 'classification');
    if (prediction.kind !== 'classification') return;
    assert.deepEqual(
      prediction.topK.map((entry) => entry.label),
      ['owl', 'fox'],
    );
    assert.equal(prediction.label, 'owl');
    assert.equal(prediction.confidence, r(0.4));
  });

  test('topK 1 keeps only the winner; topK above the label count keeps all', () => {
    const one = answer({ ...spec, topK: 1 }, f32([0.7, 0.1, 0.1, 0.1]), 0);
    assert.ok(one.kind === 'classification');
    assert.deepEqual(one.topK, [{ label: 'cat', probability: r(0.7) }]);
    const many = answer({ ...spec, topK: 10 }, f32([0.7, 0.1, 0.1, 0.1]), 0);
    assert.ok(many.kind === 'classification');
    assert.equal(many.topK.length, 4);
  });

  test('ties keep the declared label order', () => {
    const prediction = answer(spec, f32([0.25, 0.25, 0.25, 0.25]), 0);
    assert.ok(prediction.kind === 'classification');
    assert.equal(prediction.label, 'cat');
    assert.deepEqual(
      prediction.topK.map((entry) => entry.label),
      ['cat', 'dog', 'fox', 'owl'],
    );
  });

  test('row index selects the right slice of a flat batch output', () => {
    const output = f32([
      0.9,
      0.05,
      0.03,
      0.02, // row 0: cat
      0.1,
      0.1,
      0.7,
      0.1, // row 1: fox
      0.2,
      0.1,
      0.1,
      0.6, // row 2: owl
    ]);
    const labels = [0, 1, 2].map((index) => {
      const prediction = answer(spec, output, index);
      assert.ok(prediction.kind === 'classification');
      return [prediction.label, prediction.confidence];
    });
    assert.deepEqual(labels, [
      ['cat', r(0.9)],
      ['fox', r(0.7)],
      ['owl', r(0.6)],
    ]);
  });

  test('works on a subarray view with a byte offset', () => {
    const backing = f32([9, 9, 0.3, 0.7, 0.8, 0.2]);
    const view = backing.subarray(2);
    const binary: OutputSpec = { name: 'p', kind: 'classification', labels: ['legit', 'fraud'] };
    const first = answer(binary, view, 0);
    const second = answer(binary, view, 1);
    assert.ok(first.kind === 'classification' && second.kind === 'classification');
    assert.equal(first.label, 'fraud');
    assert.equal(second.label, 'legit');
    assert.equal(second.confidence, r(0.8));
  });
});

describe('regression', () => {
  const spec: OutputSpec = { name: 'y', kind: 'regression' };

  test('output width is 1', () => {
    assert.equal(outputWidth(spec), 1);
  });

  test('the value of each row', () => {
    const output = f32([1.5, -2.25, 1e6]);
    assert.deepEqual(answer(spec, output, 0), { kind: 'regression', value: 1.5 });
    assert.deepEqual(answer(spec, output, 1), { kind: 'regression', value: -2.25 });
    assert.deepEqual(answer(spec, output, 2), { kind: 'regression', value: 1e6 });
  });
});

describe('regression with a prediction interval', () => {
  test('reads [value, lower, upper] per row when model.json says interval: true', () => {
    const output = { name: 'y', kind: 'regression' as const, interval: true };
    assert.equal(outputWidth(output), 3);
    const values = Float32Array.from([1.5, 1, 2, 7.25, 6.5, 8]);
    assert.deepEqual(answer(output, values, 1), {
      kind: 'regression',
      value: 7.25,
      interval: { lower: 6.5, upper: 8 },
    });
  });
});
