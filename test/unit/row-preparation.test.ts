/**
 * A batch's decode → featurize, as an inference thread runs it (row-preparation.ts), against an
 * oracle that handles one value at a time (the codec, then the featurizer): any batch of values,
 * hostile bytes included, yields for each row the same features or the same poison reason, in
 * input order, and nothing else ever throws. FUZZ_RUNS sets the cases per property (default 300).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import avro from 'avsc';
import fc from 'fast-check';
import { decodeJsonRecord } from '../../src/codec/json-codec.js';
import { PoisonInputError } from '../../src/errors.js';
import { Featurizer } from '../../src/model/featurizer.js';
import {
  VALUE_FORMAT,
  packRowInput,
  type PreparedRows,
  type RowValue,
} from '../../src/model/row-input.js';
import { RowPreparation } from '../../src/model/row-preparation.js';
import { everyFeatureManifest } from '../helpers/every-feature-manifest.js';

const params = { numRuns: Number(process.env.FUZZ_RUNS ?? 300) };

const manifest = everyFeatureManifest;
const featurizer = new Featurizer(manifest);
const width = featurizer.width;

/** What one value alone becomes: its row, or its poison reason; and the quality it counts. */
function oracle(value: Buffer | null, decode: (value: Buffer) => Record<string, unknown>) {
  const defaulted: number[] = [];
  const outOfRange: number[] = [];
  const quality = {
    defaulted: (i: number) => defaulted.push(i),
    outOfRange: (i: number) => outOfRange.push(i),
  };
  try {
    if (!value || value.length === 0) throw new PoisonInputError('decode', 'empty');
    const record = decode(value);
    return { row: featurizer.encode(record, undefined, 0, quality), record, defaulted, outOfRange };
  } catch (error) {
    if (!(error instanceof PoisonInputError)) throw error;
    return { poison: error, defaulted, outOfRange };
  }
}

/** Checks a prepared batch row by row against the oracle's answers. */
function assertMatchesOracle(
  prepared: PreparedRows,
  expected: ReturnType<typeof oracle>[],
  counted: boolean[],
): void {
  const failed = new Map(prepared.failures.map((failure) => [failure.index, failure]));
  assert.equal(failed.size, prepared.failures.length, 'one failure per row at most');
  const indexes = prepared.failures.map((failure) => failure.index);
  assert.deepEqual(
    indexes,
    [...indexes].sort((a, b) => a - b),
    'failures in input order',
  );
  assert.equal(prepared.count + failed.size, expected.length, 'every row: features or a failure');
  assert.equal(prepared.rows.length, prepared.count * width);
  const defaulted = new Array<number>(manifest.features.length).fill(0);
  const outOfRange = new Array<number>(manifest.features.length).fill(0);
  let written = 0;
  expected.forEach((want, index) => {
    const failure = failed.get(index);
    if (want.poison) {
      assert.ok(failure, `row ${index} is poison: ${want.poison.message}`);
      assert.equal(failure.stage, want.poison.stage);
      if (want.poison.message !== 'empty') assert.equal(failure.reason, want.poison.reason);
      assert.equal(prepared.cacheKeys?.[index], undefined, 'a failed row has no cache key');
    } else {
      assert.equal(failure, undefined, `row ${index} has features: ${failure?.message}`);
      const row = prepared.rows.subarray(written * width, ++written * width);
      assert.deepEqual(Array.from(row), Array.from(want.row!), `row ${index}'s features`);
      assert.equal(typeof prepared.cacheKeys?.[index], 'string', 'a row has its cache key');
    }
    if (counted[index]) {
      for (const i of want.defaulted) defaulted[i]!++;
      for (const i of want.outOfRange) outOfRange[i]!++;
    }
  });
  assert.deepEqual(prepared.defaulted, defaulted, 'defaulted fields, counted rows only');
  assert.deepEqual(prepared.outOfRange, outOfRange, 'out-of-range numbers, counted rows only');
}

/** Records of every shape: valid, missing, wrong types, out of range, beyond float32. */
const recordLike = fc.record(
  {
    amount: fc.oneof(
      fc.double(),
      fc.constantFrom(1e39, -1, 0, 12.5),
      fc.string(),
      fc.constant(null),
    ),
    count: fc.oneof(fc.integer({ min: -20, max: 20 }), fc.constant(null)),
    flag: fc.oneof(fc.boolean(), fc.string()),
    channel: fc.oneof(fc.constantFrom('web', 'pos', 'atm'), fc.integer()),
    vec: fc.oneof(fc.array(fc.double(), { maxLength: 3 }), fc.string()),
    id: fc.string({ maxLength: 8 }),
  },
  { requiredKeys: [] },
);

const jsonValue = fc.oneof(
  recordLike.map((record) => Buffer.from(JSON.stringify(record))),
  fc.uint8Array({ maxLength: 48 }).map((bytes) => Buffer.from(bytes)),
  fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value) ?? '')),
  fc.constant(null),
);

function preparationFor(readerSchema?: string) {
  return new RowPreparation(manifest, {
    readerSchema,
    feedbackIdField: 'id',
    cacheKey: { prefix: 'p' },
  });
}

describe('a batch prepared in an inference thread', () => {
  test('any JSON values: each row is what it alone would be, features or the same poison', () => {
    const preparation = preparationFor();
    fc.assert(
      fc.property(
        fc.array(fc.record({ value: jsonValue, counted: fc.boolean() }), { maxLength: 24 }),
        (batch) => {
          const rows: RowValue[] = batch.map(({ value, counted }) => ({
            event: { value },
            format: VALUE_FORMAT.json,
            countQuality: counted,
          }));
          const prepared = preparation.prepare(packRowInput(rows, () => undefined));
          const expected = batch.map(({ value }) => oracle(value, decodeJsonRecord));
          assertMatchesOracle(
            prepared,
            expected,
            batch.map(({ counted }) => counted),
          );
          expected.forEach((want, index) => {
            if (want.record) {
              const id = want.record.id;
              assert.equal(
                prepared.feedbackIds?.[index],
                typeof id === 'string' && id ? id : undefined,
              );
            }
          });
        },
      ),
      params,
    );
  });

  describe('Avro values', () => {
    const SCHEMA_ID = 3;
    const writerSchema = {
      type: 'record',
      name: 'Event',
      fields: [
        { name: 'amount', type: 'double' },
        { name: 'flag', type: 'boolean' },
        { name: 'channel', type: 'string' },
        { name: 'vec', type: { type: 'array', items: 'float' } },
      ],
    };
    const writer = avro.Type.forSchema(writerSchema as avro.Schema);
    const framed = (body: Buffer) => {
      const header = Buffer.alloc(5);
      header.writeInt32BE(SCHEMA_ID, 1);
      return Buffer.concat([header, body]);
    };
    const avroRecord = fc.record({
      amount: fc.oneof(fc.double({ noNaN: true }), fc.constantFrom(1e39, -3, 4)),
      flag: fc.boolean(),
      channel: fc.constantFrom('web', 'pos', 'atm'),
      vec: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { maxLength: 3 }),
    });
    const avroValue = fc.oneof(
      avroRecord.map((record) => framed(writer.toBuffer(record))),
      // A valid body cut short, or any bytes after the header.
      avroRecord.map((record) => framed(writer.toBuffer(record).subarray(0, 2))),
      fc.uint8Array({ maxLength: 32 }).map((bytes) => framed(Buffer.from(bytes))),
    );
    const decodeAlone = (value: Buffer) => {
      try {
        return writer.fromBuffer(value.subarray(5)) as Record<string, unknown>;
      } catch (error) {
        throw new PoisonInputError('decode', String(error), { reason: 'malformed' });
      }
    };

    test('any framed bodies: each row is what it alone would be, features or poison', () => {
      const preparation = preparationFor();
      fc.assert(
        fc.property(fc.array(avroValue, { maxLength: 16 }), (values) => {
          const rows: RowValue[] = values.map((value) => ({
            event: { value },
            format: VALUE_FORMAT.avro,
            countQuality: true,
            schemaId: SCHEMA_ID,
          }));
          const input = packRowInput(rows, () => JSON.stringify(writerSchema));
          const prepared = preparation.prepare(input);
          assertMatchesOracle(
            prepared,
            values.map((value) => oracle(value, decodeAlone)),
            values.map(() => true),
          );
        }),
        params,
      );
    });

    test('a reader schema resolves older writers: its default fills the field they lack', () => {
      const reader = {
        ...writerSchema,
        fields: [...writerSchema.fields, { name: 'count', type: 'double', default: 3 }],
      };
      const preparation = preparationFor(JSON.stringify(reader));
      const value = framed(
        writer.toBuffer({ amount: 2, flag: true, channel: 'pos', vec: [1, 2, 3] }),
      );
      const prepared = preparation.prepare(
        packRowInput(
          [
            {
              event: { value },
              format: VALUE_FORMAT.avro,
              countQuality: true,
              schemaId: SCHEMA_ID,
            },
          ],
          () => JSON.stringify(writerSchema),
        ),
      );
      const want = featurizer.encode({
        amount: 2,
        count: 3,
        flag: true,
        channel: 'pos',
        vec: [1, 2, 3],
      });
      assert.deepEqual(Array.from(prepared.rows), Array.from(want));
      assert.equal(prepared.defaulted[1], 0, 'the reader gave count: not defaulted');
    });
  });

  test('an Avro row whose writer schema was not resolved is a bug, not poison', () => {
    const value = Buffer.from([0, 0, 0, 0, 9, 1]);
    assert.throws(
      () =>
        packRowInput(
          [{ event: { value }, format: VALUE_FORMAT.avro, countQuality: true, schemaId: 9 }],
          () => undefined,
        ),
      /schema id 9 was not resolved/,
    );
  });
});
