/**
 * Featurizer: number/boolean/category/vector encoding, defaults, neutral values for optional
 * features without a default, poison input for everything a model cannot take, writing into an
 * offset of a batch buffer, and agreement with the independent reference encoder on fraud-mlp.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PoisonInputError } from '../../src/errors.js';
import { Featurizer } from '../../src/model/featurizer.js';
import {
  modelManifestSchema,
  readModelManifest,
  type ModelManifest,
} from '../../src/model/model-manifest.js';
import { encodeRow, readModelJson } from '../helpers/reference-model.js';
import { fraudEvent, fraudEventMinimal } from '../helpers/sample-events.js';
import { classifyFailure } from '../../src/error-policy.js';

const MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models');

/** Layout: amount[0] count[1] flag[2] active[3] channel[4..6] tier[7..8] vec[9..11] opt_vec[12..13] */
const manifest: ModelManifest = modelManifestSchema.parse({
  name: 'hand-written',
  version: '1',
  input: { name: 'x', type: 'float32' },
  output: { name: 'y', kind: 'classification', labels: ['a', 'b'] },
  features: [
    { name: 'amount', type: 'number', required: true },
    { name: 'count', type: 'number', default: 7 },
    { name: 'flag', type: 'boolean', default: true },
    { name: 'active', type: 'boolean' },
    { name: 'channel', type: 'category', categories: ['web', 'pos', 'atm'], default: 'pos' },
    { name: 'tier', type: 'category', categories: ['gold', 'silver'] },
    { name: 'vec', type: 'vector', length: 3, required: true },
    { name: 'opt_vec', type: 'vector', length: 2 },
  ],
});
const WIDTH = 14;

function full(): Record<string, unknown> {
  return {
    amount: 12.5,
    count: 3,
    flag: false,
    active: true,
    channel: 'atm',
    tier: 'silver',
    vec: [0.25, -1, 1e3],
    opt_vec: [4, 5],
  };
}

function without(...names: string[]): Record<string, unknown> {
  const record = full();
  for (const name of names) delete record[name];
  return record;
}

function assertPoison(fn: () => unknown, feature: string, ...fragments: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PoisonInputError, `expected PoisonInputError, got ${String(error)}`);
    assert.equal(error.stage, 'featurize');
    assert.equal(classifyFailure(error), 'poison');
    assert.ok(error.message.includes(`feature "${feature}"`), error.message);
    for (const fragment of fragments) {
      assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
    }
    return true;
  });
}

describe('Featurizer on a hand-written manifest', () => {
  const featurizer = new Featurizer(manifest);

  test('width is the sum of the feature widths', () => {
    assert.equal(featurizer.width, WIDTH);
  });

  test('every feature present: numbers as is, booleans 1/0, one-hot, vector', () => {
    const row = featurizer.encode(full());
    assert.ok(row instanceof Float32Array);
    assert.equal(row.length, WIDTH);
    assert.deepEqual(Array.from(row), [12.5, 3, 0, 1, 0, 0, 1, 0, 1, 0.25, -1, 1000, 4, 5]);
  });

  test('numbers are rounded to float32', () => {
    const row = featurizer.encode({ ...full(), amount: 0.1 });
    assert.equal(row[0], Math.fround(0.1));
  });

  test('missing features with defaults take their defaults', () => {
    const row = featurizer.encode(without('count', 'flag', 'channel'));
    assert.equal(row[1], 7, 'count default');
    assert.equal(row[2], 1, 'flag default true');
    assert.deepEqual(Array.from(row.subarray(4, 7)), [0, 1, 0], 'channel default pos');
  });

  test('null counts as missing', () => {
    const row = featurizer.encode({ ...full(), count: null, channel: null, active: null });
    assert.equal(row[1], 7);
    assert.deepEqual(Array.from(row.subarray(4, 7)), [0, 1, 0]);
    assert.equal(row[3], 0);
  });

  test('optional without default: boolean 0, category all zeros, vector zeros', () => {
    const row = featurizer.encode(without('active', 'tier', 'opt_vec'));
    assert.equal(row[3], 0, 'active -> 0');
    assert.deepEqual(Array.from(row.subarray(7, 9)), [0, 0], 'tier -> all zeros');
    assert.deepEqual(Array.from(row.subarray(12, 14)), [0, 0], 'opt_vec -> zeros');
  });

  test('optional number without default becomes 0', () => {
    const numbers = new Featurizer(
      modelManifestSchema.parse({
        ...manifest,
        features: [
          { name: 'a', type: 'number' },
          { name: 'b', type: 'number', default: 2 },
        ],
      }),
    );
    assert.deepEqual(Array.from(numbers.encode({})), [0, 2]);
    assert.deepEqual(Array.from(numbers.encode({ a: -3 })), [-3, 2]);
  });

  test('neutral values overwrite stale data in a reused buffer', () => {
    const buffer = new Float32Array(WIDTH).fill(9);
    featurizer.encode(without('active', 'tier', 'opt_vec'), buffer);
    assert.deepEqual(Array.from(buffer), [12.5, 3, 0, 0, 0, 0, 1, 0, 0, 0.25, -1, 1000, 0, 0]);
  });

  test('missing required number: poison naming the feature', () => {
    assertPoison(() => featurizer.encode(without('amount')), 'amount', 'is required but missing');
    assertPoison(
      () => featurizer.encode({ ...full(), amount: null }),
      'amount',
      'is required but missing',
    );
  });

  test('missing required vector: poison naming the feature', () => {
    assertPoison(() => featurizer.encode(without('vec')), 'vec', 'is required but missing');
  });

  test('wrong types are poison', () => {
    assertPoison(
      () => featurizer.encode({ ...full(), amount: '12.5' }),
      'amount',
      'expected a number',
      'string "12.5"',
    );
    assertPoison(
      () => featurizer.encode({ ...full(), amount: true }),
      'amount',
      'expected a number, got boolean',
    );
    assertPoison(
      () => featurizer.encode({ ...full(), flag: 1 }),
      'flag',
      'expected a boolean, got number',
    );
    assertPoison(
      () => featurizer.encode({ ...full(), active: 'true' }),
      'active',
      'expected a boolean',
    );
    assertPoison(
      () => featurizer.encode({ ...full(), channel: 2 }),
      'channel',
      'expected a string, got number',
    );
    assertPoison(() => featurizer.encode({ ...full(), vec: 'abc' }), 'vec', 'expected an array');
    assertPoison(
      () => featurizer.encode({ ...full(), vec: { 0: 1, 1: 2, 2: 3, length: 3 } }),
      'vec',
      'expected an array, got object',
    );
    assertPoison(
      () => featurizer.encode({ ...full(), vec: [1, '2', 3] }),
      'vec',
      'expected a number',
    );
    assertPoison(
      () => featurizer.encode({ ...full(), vec: [1, null, 3] }),
      'vec',
      'expected a number, got null',
    );
    assertPoison(
      () => featurizer.encode({ ...full(), amount: [1] }),
      'amount',
      'expected a number, got array',
    );
  });

  test('NaN and Infinity are poison, in numbers and vectors', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      assertPoison(
        () => featurizer.encode({ ...full(), amount: bad }),
        'amount',
        'expected a finite number',
        String(bad),
      );
      assertPoison(
        () => featurizer.encode({ ...full(), vec: [0, bad, 0] }),
        'vec',
        'expected a finite number',
      );
    }
  });

  test('an unknown category is poison listing the known ones', () => {
    assertPoison(
      () => featurizer.encode({ ...full(), channel: 'phone' }),
      'channel',
      '"phone" is not one of web, pos, atm',
    );
    assertPoison(
      () => featurizer.encode({ ...full(), tier: 'GOLD' }),
      'tier',
      'is not one of gold, silver',
    );
  });

  test('a vector of the wrong length is poison', () => {
    assertPoison(
      () => featurizer.encode({ ...full(), vec: [1, 2] }),
      'vec',
      'expected 3 numbers, got 2',
    );
    assertPoison(
      () => featurizer.encode({ ...full(), vec: [1, 2, 3, 4] }),
      'vec',
      'expected 3 numbers, got 4',
    );
    assertPoison(() => featurizer.encode({ ...full(), vec: [] }), 'vec', 'got 0');
  });

  test('encodes into an offset of a larger batch buffer without touching the rest', () => {
    const batch = new Float32Array(3 * WIDTH).fill(-7);
    const returned = featurizer.encode(full(), batch, WIDTH);
    assert.equal(returned, batch, 'returns the target buffer');
    assert.deepEqual(Array.from(batch.subarray(0, WIDTH)), new Array(WIDTH).fill(-7));
    assert.deepEqual(
      Array.from(batch.subarray(WIDTH, 2 * WIDTH)),
      Array.from(featurizer.encode(full())),
    );
    assert.deepEqual(Array.from(batch.subarray(2 * WIDTH)), new Array(WIDTH).fill(-7));
  });

  test('rows at several offsets build a batch equal to separately encoded rows', () => {
    const records = [full(), without('count', 'tier'), { ...full(), vec: [9, 8, 7] }];
    const batch = new Float32Array(records.length * WIDTH);
    records.forEach((record, i) => featurizer.encode(record, batch, i * WIDTH));
    records.forEach((record, i) => {
      assert.deepEqual(
        Array.from(batch.subarray(i * WIDTH, (i + 1) * WIDTH)),
        Array.from(featurizer.encode(record)),
      );
    });
  });

  test('extra fields in the event are ignored', () => {
    const row = featurizer.encode({ ...full(), id: 'e-1', unrelated: { nested: true } });
    assert.deepEqual(Array.from(row), Array.from(featurizer.encode(full())));
  });
});

describe('Featurizer on models/fraud-mlp/1 against the reference encoder', () => {
  const dir = path.join(MODELS_DIR, 'fraud-mlp/1');
  const fraudManifest = readModelManifest(dir);
  const featurizer = new Featurizer(fraudManifest);
  const json = readModelJson(dir);

  test('200 sample events encode to identical floats', () => {
    assert.equal(featurizer.width, 30);
    const channels = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const event = fraudEvent(i);
      channels.add(event.channel);
      const record = event as unknown as Record<string, unknown>;
      const got = featurizer.encode(record);
      const want = encodeRow(json, record);
      assert.equal(got.length, want.length);
      for (let j = 0; j < want.length; j++) {
        assert.ok(Object.is(got[j], want[j]), `event ${i} column ${j}: ${got[j]} != ${want[j]}`);
      }
    }
    assert.equal(channels.size, 3, 'the sample covers every channel');
  });

  test('200 sample events batched into one buffer equal the reference rows', () => {
    const batch = new Float32Array(200 * 30);
    for (let i = 0; i < 200; i++) {
      featurizer.encode(fraudEvent(i) as unknown as Record<string, unknown>, batch, i * 30);
    }
    for (let i = 0; i < 200; i++) {
      const want = encodeRow(json, fraudEvent(i) as unknown as Record<string, unknown>);
      assert.deepEqual(batch.subarray(i * 30, (i + 1) * 30), want, `row ${i}`);
    }
  });

  test('minimal events (defaults) equal the reference rows', () => {
    for (let i = 0; i < 50; i++) {
      const record = fraudEventMinimal(i) as unknown as Record<string, unknown>;
      assert.deepEqual(featurizer.encode(record), encodeRow(json, record), `event ${i}`);
    }
  });

  test('a fraud event without a required feature is poison naming it', () => {
    const record = fraudEvent(1) as unknown as Record<string, unknown>;
    delete record.account_age_days;
    assertPoison(() => featurizer.encode(record), 'account_age_days', 'is required but missing');
  });

  test('data quality: defaulted fields and out-of-range numbers are counted per feature', () => {
    const counts = { defaulted: [] as string[], outOfRange: [] as string[] };
    const features = fraudManifest.features;
    const quality = {
      defaulted: (index: number) => counts.defaulted.push(features[index]!.name),
      outOfRange: (index: number) => counts.outOfRange.push(features[index]!.name),
    };
    featurizer.encode(fraudEvent(3) as unknown as Record<string, unknown>, undefined, 0, quality);
    assert.deepEqual(counts, { defaulted: [], outOfRange: [] }, 'a complete event: nothing');
    const record = { ...fraudEvent(3), day_of_week: null, hour_of_day: 24, merchant_risk: -0.5 };
    delete (record as Partial<typeof record>).channel;
    const row = featurizer.encode(
      record as unknown as Record<string, unknown>,
      undefined,
      0,
      quality,
    );
    assert.deepEqual(counts.defaulted.sort(), ['channel', 'day_of_week']);
    assert.deepEqual(counts.outOfRange.sort(), ['hour_of_day', 'merchant_risk']);
    assert.equal(row[1], 24, 'counted, and served as is (outOfRange defaults to "count")');
  });

  test('outOfRange "poison": a number outside [min, max] is poison naming the range', () => {
    const strict = new Featurizer(
      modelManifestSchema.parse({
        ...manifest,
        features: [{ name: 'amount', type: 'number', min: 0, max: 10, outOfRange: 'poison' }],
      }),
    );
    const seen: number[] = [];
    const quality = { defaulted: () => undefined, outOfRange: (i: number) => seen.push(i) };
    assert.equal(strict.encode({ amount: 10 }, undefined, 0, quality)[0], 10, 'bounds are inside');
    assertPoison(
      () => strict.encode({ amount: 10.5 }, undefined, 0, quality),
      'amount',
      'outside [0, 10]',
    );
    assertPoison(() => strict.encode({ amount: -1 }), 'amount', 'outside [0, 10]');
    assert.deepEqual(seen, [0], 'counted too');
  });
});
