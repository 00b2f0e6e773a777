/**
 * The fault suite's checker on hand-made records: lost offsets, identical and differing
 * duplicates, order violations (a replay repeats, a reorder is counted) and dead letters by reason.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { accountFor } from '../helpers/delivery-check.js';
import type { ReadRecord } from '../helpers/kafka-test-helpers.js';

function record(partition: number, offset: number, value: string, headers: Record<string, string>) {
  return {
    partition,
    offset,
    key: null,
    value: Buffer.from(value),
    tombstone: false,
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
    timestamp: '0',
  } satisfies ReadRecord;
}

const input = (offset: number) => record(0, offset, `in-${offset}`, {});
let outputOffset = 0;
const prediction = (source: number, label = 'legit', predictedAt = 1) =>
  record(0, outputOffset++, JSON.stringify({ label, predictedAt }), {
    'source.partition': '0',
    'source.offset': String(source),
    'model.version': '1',
  });
const deadLetter = (source: number, reason: string) =>
  record(0, outputOffset++, `in-${source}`, {
    'dlq.source.partition': '0',
    'dlq.source.offset': String(source),
    'dlq.error.reason': reason,
  });

describe('delivery checker', () => {
  test('a clean run: nothing lost, doubled or reordered', () => {
    const report = accountFor(
      [0, 1, 2, 3].map(input),
      [prediction(0), prediction(1), prediction(3)],
      [deadLetter(2, 'malformed')],
    );
    assert.deepEqual(report, {
      inputs: 4,
      predicted: 3,
      deadLettered: 1,
      lost: [],
      duplicates: 0,
      duplicatesDiffering: 0,
      orderViolations: 0,
      deadLettersByReason: { malformed: 1 },
    });
  });

  test('a replay after a crash: identical duplicates apart from predictedAt, no violation', () => {
    const report = accountFor(
      [0, 1, 2].map(input),
      [prediction(0), prediction(1), prediction(1, 'legit', 99), prediction(2)],
      [],
    );
    assert.equal(report.duplicates, 1);
    assert.equal(report.duplicatesDiffering, 0);
    assert.equal(report.orderViolations, 0);
  });

  test('a lost offset, a differing duplicate and a reorder are all counted', () => {
    const report = accountFor(
      [0, 1, 2, 3].map(input),
      [prediction(0), prediction(2), prediction(1), prediction(0, 'fraud')],
      [],
    );
    assert.deepEqual(report.lost, ['0@3']);
    assert.equal(report.duplicates, 1);
    assert.equal(report.duplicatesDiffering, 1);
    assert.equal(report.orderViolations, 1);
  });
});
