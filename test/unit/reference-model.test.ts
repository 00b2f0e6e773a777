/**
 * The example models in models/ against the independent TypeScript reference implementation:
 * onnxruntime-node output == reference output (1e-5 abs) on 64 sample events per model, softmax
 * rows sum to 1, dynamic batch dimension, model.json consistent with the ONNX graph, featurizer
 * rules, and models/generate.ts reproducing the committed files byte for byte.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { GENERATED_FILES, generateAll } from '../../models/generate.js';
import {
  encodeRow,
  loadReferenceModel,
  readModelJson,
  referenceRowWidth,
  type ReferenceModel,
  type ReferenceModelJson,
} from '../helpers/reference-model.js';
import {
  embeddingEvent,
  fraudEvent,
  fraudEventMinimal,
  sampleEvent,
} from '../helpers/sample-events.js';

const MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models');
const MODEL_DIRS = ['fraud-mlp/1', 'fraud-mlp/2', 'embedding-mlp/1'] as const;
const BATCH = 64;
const TOLERANCE = 1e-5;
const SUPPORTED_OPS = new Set(['MatMul', 'Add', 'Mul', 'Relu', 'Softmax']);

const asRecord = (event: object): Record<string, unknown> => event as Record<string, unknown>;

function batchTensor(rows: Float32Array[], width: number): ort.Tensor {
  const data = new Float32Array(rows.length * width);
  rows.forEach((row, i) => data.set(row, i * width));
  return new ort.Tensor('float32', data, [rows.length, width]);
}

async function runOrt(
  session: ort.InferenceSession,
  ref: ReferenceModel,
  rows: Float32Array[],
  width: number,
): Promise<Float32Array> {
  const result = await session.run({ [ref.inputName]: batchTensor(rows, width) });
  const out = result[ref.outputName];
  assert.ok(out, `ORT returned no '${ref.outputName}'`);
  assert.deepEqual(out.dims, [rows.length, ref.outputShape[1]]);
  return out.data as Float32Array;
}

for (const rel of MODEL_DIRS) {
  describe(`model ${rel}`, () => {
    const dir = path.join(MODELS_DIR, rel);
    let json: ReferenceModelJson;
    let ref: ReferenceModel;
    let session: ort.InferenceSession;
    let rows: Float32Array[];
    let width: number;

    before(async () => {
      json = readModelJson(dir);
      ref = loadReferenceModel(dir);
      session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
      });
      width = referenceRowWidth(json);
      rows = Array.from({ length: BATCH }, (_, i) =>
        encodeRow(json, asRecord(sampleEvent(json.name, i))),
      );
    });
    after(async () => {
      await session?.release();
    });

    test('model.json matches its directory and the ONNX graph', () => {
      const [name, version] = rel.split('/');
      assert.equal(json.name, name);
      assert.equal(json.version, version);
      assert.equal(json.input.type, 'float32');
      assert.equal(ref.inputName, json.input.name);
      assert.equal(ref.outputName, json.output.name);
      assert.equal(ref.inputShape[1], width, 'row width = sum of feature widths');
      assert.equal(json.output.kind, 'classification');
      assert.equal(ref.outputShape[1], json.output.labels?.length);
      assert.ok((json.output.topK ?? 0) >= 1 && (json.output.topK ?? 0) <= ref.outputShape[1]!);
      assert.deepEqual(json.preferredBatchSizes, [1, 8, 32, 64]);
      assert.equal(json.maxBatchSize, 256);
      for (const op of ref.ops) assert.ok(SUPPORTED_OPS.has(op), `unexpected op ${op}`);
      assert.equal(ref.ops.at(-1), 'Softmax');
    });

    test('graph input and output have a dynamic batch dimension', async () => {
      assert.deepEqual(ref.inputShape, ['batch', width]);
      assert.equal(ref.outputShape[0], 'batch');
      const meta = session.inputMetadata.find((m) => m.name === json.input.name);
      assert.ok(meta?.isTensor, 'ORT sees the input tensor');
      assert.equal(meta.shape[0], 'batch');
      assert.equal(meta.shape[1], width);
      // And it really accepts different batch sizes: row 0 alone equals row 0 of the batch.
      const single = await runOrt(session, ref, rows.slice(0, 1), width);
      const batched = await runOrt(session, ref, rows, width);
      single.forEach((v, j) => assert.ok(Math.abs(v - (batched[j] as number)) <= 1e-6));
    });

    test(`onnxruntime output equals the reference on ${BATCH} sample events`, async () => {
      const got = await runOrt(session, ref, rows, width);
      const expected = ref.predict(rows);
      const k = ref.outputShape[1] as number;
      let maxDiff = 0;
      expected.forEach((row, i) => {
        let sumOrt = 0;
        let sumRef = 0;
        row.forEach((want, j) => {
          const have = got[i * k + j] as number;
          assert.ok(have >= 0 && have <= 1, `probability out of range: ${have}`);
          maxDiff = Math.max(maxDiff, Math.abs(have - want));
          sumOrt += have;
          sumRef += want;
        });
        assert.ok(Math.abs(sumOrt - 1) <= TOLERANCE, `ORT row ${i} sums to ${sumOrt}`);
        assert.ok(Math.abs(sumRef - 1) <= TOLERANCE, `reference row ${i} sums to ${sumRef}`);
      });
      assert.ok(maxDiff <= TOLERANCE, `max |ORT - reference| = ${maxDiff}`);
      // The sample events do not all land on the same class.
      const winners = new Set(expected.map((row) => row.indexOf(Math.max(...row))));
      assert.ok(winners.size >= 2, 'predictions depend on the input');
    });

    test('example-event.json is sample event 0 and encodes', async () => {
      const example = JSON.parse(
        await readFile(path.join(MODELS_DIR, json.name, 'example-event.json'), 'utf8'),
      ) as Record<string, unknown>;
      assert.deepEqual(example, JSON.parse(JSON.stringify(sampleEvent(json.name, 0))));
      assert.equal(typeof example.id, 'string');
      assert.deepEqual(encodeRow(json, example), rows[0]);
    });
  });
}

describe('encodeRow', () => {
  const fraud = readModelJson(path.join(MODELS_DIR, 'fraud-mlp/1'));

  test('fraud row: 22 numbers, 5 booleans, one-hot channel = 30 floats in declared order', () => {
    assert.equal(referenceRowWidth(fraud), 30);
    const e = fraudEvent(3);
    const row = encodeRow(fraud, asRecord(e));
    assert.equal(row.length, 30);
    assert.equal(row[0], Math.fround(e.amount));
    assert.equal(row[1], e.hour_of_day);
    assert.equal(row[22], e.is_foreign ? 1 : 0);
    assert.equal(row[26], e.is_recurring ? 1 : 0);
    assert.deepEqual(
      Array.from(row.subarray(27)),
      ['web', 'pos', 'atm'].map((c) => (c === e.channel ? 1 : 0)),
    );
  });

  test('missing optional features take their defaults', () => {
    const minimal = fraudEventMinimal(5);
    const row = encodeRow(fraud, asRecord(minimal));
    const expected: number[] = [];
    for (const f of fraud.features) {
      const v = (minimal as Record<string, unknown>)[f.name] ?? f.default;
      if (f.type === 'category') for (const c of f.categories ?? []) expected.push(c === v ? 1 : 0);
      else if (f.type === 'boolean') expected.push(v ? 1 : 0);
      else expected.push(v as number);
    }
    assert.deepEqual(Array.from(row), Array.from(Float32Array.from(expected)));
    assert.deepEqual(Array.from(row.subarray(27)), [1, 0, 0], "channel defaults to 'web'");
    // null counts as missing too.
    assert.deepEqual(encodeRow(fraud, { ...minimal, channel: null, merchant_risk: null }), row);
  });

  test('invalid events are rejected', () => {
    const e = asRecord(fraudEvent(1));
    assert.throws(() => encodeRow(fraud, { ...e, amount: undefined }), /amount/);
    assert.throws(() => encodeRow(fraud, { ...e, amount: '12.5' }), /amount/);
    assert.throws(() => encodeRow(fraud, { ...e, channel: 'phone' }), /channel/);
    assert.throws(() => encodeRow(fraud, { ...e, is_foreign: 1 }), /is_foreign/);
    const emb = readModelJson(path.join(MODELS_DIR, 'embedding-mlp/1'));
    assert.throws(() => encodeRow(emb, { embedding: [1, 2, 3] }), /embedding/);
    assert.throws(() => encodeRow(emb, {}), /embedding/);
    assert.equal(encodeRow(emb, asRecord(embeddingEvent(2))).length, 256);
  });
});

describe('sample events', () => {
  test('are deterministic and realistic', () => {
    assert.deepEqual(fraudEvent(42), fraudEvent(42));
    assert.notDeepEqual(fraudEvent(42), fraudEvent(43));
    assert.deepEqual(embeddingEvent(7), embeddingEvent(7));
    for (let i = 0; i < 200; i++) {
      const e = fraudEvent(i);
      assert.equal(e.id, `fraud-${String(i).padStart(6, '0')}`);
      assert.ok(e.amount > 0 && e.hour_of_day >= 0 && e.hour_of_day <= 23);
      assert.ok(e.merchant_risk >= 0 && e.merchant_risk <= 1);
      assert.ok(e.txn_count_24h >= e.txn_count_1h);
      assert.ok(['web', 'pos', 'atm'].includes(e.channel));
    }
    const emb = embeddingEvent(0);
    assert.equal(emb.embedding.length, 256);
    assert.ok(emb.embedding.every(Number.isFinite));
  });

  test('fraud-mlp versions 1 and 2 give different predictions', () => {
    const v1 = loadReferenceModel(path.join(MODELS_DIR, 'fraud-mlp/1'));
    const v2 = loadReferenceModel(path.join(MODELS_DIR, 'fraud-mlp/2'));
    const rows = Array.from({ length: 16 }, (_, i) => encodeRow(v1.json, asRecord(fraudEvent(i))));
    const p1 = v1.predict(rows);
    const p2 = v2.predict(rows);
    const diff = Math.max(...p1.map((r, i) => Math.abs((r[1] ?? 0) - (p2[i]?.[1] ?? 0))));
    assert.ok(diff > 0.05, `versions differ (max fraud-probability diff ${diff})`);
  });
});

describe('models/generate.ts', () => {
  test('regenerates the committed files byte for byte', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'models-gen-'));
    try {
      const written = await generateAll(tmp);
      assert.deepEqual(
        written.map((f) => path.relative(tmp, f).split(path.sep).join('/')).sort(),
        [...GENERATED_FILES].sort(),
      );
      for (const rel of GENERATED_FILES) {
        const [fresh, committed] = await Promise.all([
          readFile(path.join(tmp, rel)),
          readFile(path.join(MODELS_DIR, rel)),
        ]);
        assert.ok(fresh.equals(committed), `${rel} differs from a fresh generation`);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
