/**
 * The JSON output encoder writes exactly what JSON.stringify would, for every shape a prediction
 * takes: classification with top-k, regression with and without an interval, odd label strings.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { predictionJson } from '../../src/codec/prediction-json.js';
import type { PredictionRecord } from '../../src/wire-contract.js';

function record(overrides: Partial<PredictionRecord>): PredictionRecord {
  return {
    model: 'fraud-mlp',
    modelVersion: '1',
    label: null,
    confidence: null,
    topK: null,
    value: null,
    interval: null,
    source: { topic: 'payments', partition: 3, offset: '9007199254740993' },
    eventTimestamp: 1_796_000_000_123,
    predictedAt: 1_796_000_000_456,
    ...overrides,
  };
}

describe('predictionJson', () => {
  const cases: [string, PredictionRecord][] = [
    [
      'classification with top-k',
      record({
        label: 'fraud',
        confidence: 0.987654321,
        topK: [
          { label: 'fraud', probability: 0.987654321 },
          { label: 'legit', probability: 1.2e-7 },
        ],
      }),
    ],
    ['regression', record({ value: -12.5 })],
    ['regression with an interval', record({ value: 0, interval: { lower: -0, upper: 3.25 } })],
    [
      'labels that need escaping',
      record({
        label: 'say "hi"\\n\u2028',
        confidence: 1,
        topK: [{ label: 'say "hi"\\n\u2028', probability: 1 }],
      }),
    ],
    ['non-finite numbers become null', record({ value: Number.NaN, confidence: Infinity })],
    ['an empty top-k', record({ label: 'a', confidence: 0.5, topK: [] })],
    ['a model name with unicode', record({ model: 'modèle-ß', modelVersion: '2024-01' })],
  ];
  for (const [name, value] of cases) {
    test(name, () => {
      assert.equal(predictionJson(value), JSON.stringify(value));
    });
  }
});
