/**
 * FeatureDrift: bins by the reference's edges, PSI by the documented formula, ~0 for rows drawn
 * like the reference and large for a shifted feature, and a window that forgets old rows.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FeatureDrift, binOf } from '../../src/observability/feature-drift.js';

const REFERENCE = {
  name: 'amount',
  column: 1,
  edges: [10, 20, 30],
  proportions: [0.25, 0.25, 0.25, 0.25],
};

/** `count` rows of width 2 whose column 1 cycles through `values`. */
function rows(values: number[], count: number): Float32Array {
  const matrix = new Float32Array(count * 2);
  for (let i = 0; i < count; i++) matrix[i * 2 + 1] = values[i % values.length]!;
  return matrix;
}

describe('feature drift', () => {
  test('bins: below the first edge, between edges (lower edge inclusive), above the last', () => {
    assert.deepEqual(
      [-5, 9.99, 10, 15, 20, 29, 30, 1e9].map((value) => binOf(REFERENCE.edges, value)),
      [0, 0, 1, 1, 2, 2, 3, 3],
    );
  });

  test('rows distributed like the reference: PSI 0', () => {
    const drift = new FeatureDrift([REFERENCE], 1_000);
    drift.observe(rows([5, 15, 25, 35], 400), 400, 2);
    assert.ok(Math.abs(drift.psi().get('amount')!) < 1e-12);
  });

  test('a stride counts every stride-th row only', () => {
    const drift = new FeatureDrift([REFERENCE], 1_000);
    // Rows cycle 5, 15, 25, 35: every 4th row from the first is 5, so all land in bin 0.
    drift.observe(rows([5, 15, 25, 35], 400), 400, 2, 4);
    const sampled = new FeatureDrift([REFERENCE], 1_000);
    sampled.observe(rows([5], 100), 100, 2);
    assert.equal(drift.psi().get('amount'), sampled.psi().get('amount'));
  });

  test('a shifted feature: PSI by the formula', () => {
    const drift = new FeatureDrift([REFERENCE], 1_000);
    drift.observe(rows([35], 100), 100, 2); // every row in the last bin
    const floor = 1e-4;
    const expected = 3 * (floor - 0.25) * Math.log(floor / 0.25) + (1 - 0.25) * Math.log(1 / 0.25);
    assert.ok(Math.abs(drift.psi().get('amount')! - expected) < 1e-9);
    assert.ok(drift.psi().get('amount')! > 0.2);
  });

  test('the window forgets: after two windows of reference-like rows the shift is gone', () => {
    const drift = new FeatureDrift([REFERENCE], 100);
    drift.observe(rows([35], 100), 100, 2);
    assert.ok(drift.psi().get('amount')! > 1);
    drift.observe(rows([5, 15, 25, 35], 200), 200, 2);
    assert.ok(Math.abs(drift.psi().get('amount')!) < 1e-12);
  });

  test('no rows yet: no figure', () => {
    assert.equal(new FeatureDrift([REFERENCE], 10).psi().size, 0);
  });

  test('category: one bin per one-hot column; rows with none set are not counted', () => {
    const category = {
      name: 'channel',
      kind: 'category' as const,
      column: 1,
      proportions: [0.5, 0.3, 0.2],
    };
    const drift = new FeatureDrift([category], 1_000);
    // Width 4: column 0 something else, columns 1..3 the one-hot channel.
    const oneHot = (index: number | undefined) =>
      [9, 0, 1, 2].map((_, c) => (c === 0 ? 9 : c - 1 === index ? 1 : 0));
    const matrix = new Float32Array([
      ...Array.from({ length: 50 }, () => oneHot(0)).flat(),
      ...Array.from({ length: 30 }, () => oneHot(1)).flat(),
      ...Array.from({ length: 20 }, () => oneHot(2)).flat(),
      ...Array.from({ length: 40 }, () => oneHot(undefined)).flat(),
    ]);
    drift.observe(matrix, 140, 4);
    assert.ok(Math.abs(drift.psi().get('channel')!) < 1e-12, 'shares as the reference: PSI 0');
    const shifted = new FeatureDrift([category], 1_000);
    shifted.observe(new Float32Array(Array.from({ length: 100 }, () => oneHot(2)).flat()), 100, 4);
    const expected =
      (1e-4 - 0.5) * Math.log(1e-4 / 0.5) +
      (1e-4 - 0.3) * Math.log(1e-4 / 0.3) +
      0.8 * Math.log(1 / 0.2);
    assert.ok(Math.abs(shifted.psi().get('channel')! - expected) < 1e-9);
  });

  test('vector: bins over the Euclidean norm', () => {
    const vector = {
      name: 'embedding',
      kind: 'vector' as const,
      column: 0,
      length: 2,
      edges: [1, 2],
      proportions: [0.25, 0.5, 0.25],
    };
    const drift = new FeatureDrift([vector], 1_000);
    // Norms 0.5, 1.5, 1.5, 5 (3-4-5 triangle): shares 0.25, 0.5, 0.25.
    drift.observe(new Float32Array([0.3, 0.4, 0.9, 1.2, 1.2, 0.9, 3, 4]), 4, 2);
    assert.ok(Math.abs(drift.psi().get('embedding')!) < 1e-12);
    drift.observe(new Float32Array(Array.from({ length: 400 }, () => [30, 40]).flat()), 400, 2);
    assert.ok(drift.psi().get('embedding')! > 1, 'every new vector far longer: a large PSI');
  });
});
