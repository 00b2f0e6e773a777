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
});
