/**
 * LoadedModel over the inference thread pool, on models/fraud-mlp/1 and the CPU: predictions
 * equal the independent reference model, concurrent batches all resolve to their own rows,
 * close() is idempotent, an unavailable CUDA provider is a ModelLoadError, and the main thread
 * keeps running while a batch blocks its inference thread.
 *
 * LoadedModel comes from the compiled dist/ (`npm test` builds first), the artifact that ships;
 * the last test proves the sources work too (the pool bootstraps tsx in the thread, since Node 20
 * does not hand module hooks to worker threads, nodejs/node#47747).
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as ErrorPolicyModule from '../../src/error-policy.js';
import type * as ErrorsModule from '../../src/errors.js';
import type * as InferencePoolModule from '../../src/model/inference-pool.js';
import type * as LoadedModelModule from '../../src/model/loaded-model.js';
import type { LoadedModel as LoadedModelType } from '../../src/model/loaded-model.js';
import type { RowResult } from '../../src/model/postprocessor.js';
import {
  encodeRow,
  loadReferenceModel,
  readModelJson,
  type ReferenceModel,
} from '../helpers/reference-model.js';
import { fraudEvent } from '../helpers/sample-events.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL_DIR = path.join(ROOT, 'models/fraud-mlp/1');
const WIDTH = 30;
const TOLERANCE = 1e-5;
const CPU = {
  device: 'cpu',
  inferenceThreads: 2,
  intraOpThreads: 1,
  debugInferenceDelayMs: 0,
} as const;

async function fromDist<T>(relative: string): Promise<T> {
  const file = path.join(ROOT, 'dist', relative);
  assert.ok(existsSync(file), `${file} is missing: run "npm run build" first`);
  return (await import(pathToFileURL(file).href)) as T;
}

let LoadedModel: typeof LoadedModelModule.LoadedModel;
let ModelLoadError: typeof ErrorsModule.ModelLoadError;
let RetriableError: typeof ErrorsModule.RetriableError;
let classifyFailure: typeof ErrorPolicyModule.classifyFailure;
const json = readModelJson(MODEL_DIR);
let reference: ReferenceModel;

before(async () => {
  ({ LoadedModel } = await fromDist<typeof LoadedModelModule>('model/loaded-model.js'));
  ({ ModelLoadError, RetriableError } = await fromDist<typeof ErrorsModule>('errors.js'));
  ({ classifyFailure } = await fromDist<typeof ErrorPolicyModule>('error-policy.js'));
  reference = loadReferenceModel(MODEL_DIR);
});

/** Rows `from`..`from+count-1` of the fraud sample stream, as one row-major batch. */
function batchOf(from: number, count: number): { matrix: Float32Array; rows: Float32Array[] } {
  const rows = Array.from({ length: count }, (_, i) =>
    encodeRow(json, fraudEvent(from + i) as unknown as Record<string, unknown>),
  );
  const matrix = new Float32Array(count * WIDTH);
  rows.forEach((row, i) => matrix.set(row, i * WIDTH));
  return { matrix, rows };
}

/** Asserts that each prediction equals the reference model's output for its row. */
function assertMatchesReference(predictions: RowResult[], rows: Float32Array[]): void {
  assert.equal(predictions.length, rows.length);
  const expected = reference.predict(rows);
  const labels = ['legit', 'fraud'];
  predictions.forEach((prediction, i) => {
    assert.ok(
      'kind' in prediction && prediction.kind === 'classification',
      `row ${i} is a classification`,
    );
    const want = expected[i]!;
    assert.equal(prediction.topK.length, 2);
    for (const { label, probability } of prediction.topK) {
      const column = labels.indexOf(label);
      assert.ok(column >= 0, `unknown label ${label}`);
      const diff = Math.abs(probability - want[column]!);
      assert.ok(diff <= TOLERANCE, `row ${i} ${label}: ${probability} vs ${want[column]}`);
    }
    const best = want[0]! >= want[1]! ? 'legit' : 'fraud';
    if (Math.abs(want[0]! - want[1]!) > 2 * TOLERANCE) assert.equal(prediction.label, best);
    assert.equal(prediction.confidence, prediction.topK[0]!.probability);
  });
}

describe('LoadedModel on the CPU (2 inference threads)', () => {
  let model: LoadedModelType;
  before(async () => {
    model = await LoadedModel.load(MODEL_DIR, CPU);
  });
  after(async () => {
    await model?.close();
  });

  test('identity names the model, version and provider', () => {
    const { name, version, provider } = model.identity;
    assert.deepEqual(
      { name, version, provider },
      { name: 'fraud-mlp', version: '1', provider: 'cpu' },
    );
    assert.equal(model.featurizer.width, WIDTH);
  });

  test('a batch of 64 equals the reference model within 1e-5', async () => {
    const { matrix, rows } = batchOf(0, 64);
    const predictions = await model.predict(matrix, 64);
    assertMatchesReference(predictions, rows);
    const labels = new Set(predictions.map((p) => ('label' in p ? p.label : '')));
    assert.equal(labels.size, 2, 'the sample gets both labels, so rows are not mixed up');
  });

  test('a single row and an odd batch size', async () => {
    for (const [from, count] of [
      [100, 1],
      [200, 37],
    ] as const) {
      const { matrix, rows } = batchOf(from, count);
      assertMatchesReference(await model.predict(matrix, count), rows);
    }
  });

  test('rows built with the featurizer into a batch buffer give the same predictions', async () => {
    const count = 16;
    const matrix = new Float32Array(count * WIDTH);
    for (let i = 0; i < count; i++) {
      model.featurizer.encode(
        fraudEvent(300 + i) as unknown as Record<string, unknown>,
        matrix,
        i * WIDTH,
      );
    }
    assertMatchesReference(await model.predict(matrix, count), batchOf(300, count).rows);
  });

  test('a view into a larger buffer is run on its own rows only', async () => {
    const { matrix, rows } = batchOf(400, 8);
    const padded = new Float32Array(10 * WIDTH).fill(1e6);
    padded.set(matrix, WIDTH);
    const view = padded.subarray(WIDTH, 9 * WIDTH);
    assertMatchesReference(await model.predict(view, 8), rows);
  });

  test('20 concurrent batches on 2 threads each resolve to their own rows', async () => {
    const batches = Array.from({ length: 20 }, (_, b) => batchOf(1000 + b * 13, 1 + (b % 7) * 5));
    const results = await Promise.all(
      batches.map(({ matrix, rows }) => model.predict(matrix, rows.length)),
    );
    results.forEach((predictions, b) => assertMatchesReference(predictions, batches[b]!.rows));
  });
});

describe('LoadedModel lifecycle', () => {
  test('close() twice is safe, and predict after close is retriable', async () => {
    const model = await LoadedModel.load(MODEL_DIR, { ...CPU, inferenceThreads: 1 });
    const { matrix, rows } = batchOf(0, 4);
    assertMatchesReference(await model.predict(matrix, 4), rows);
    await model.close();
    await model.close();
    await assert.rejects(model.predict(batchOf(0, 1).matrix, 1), (error: unknown) => {
      assert.ok(error instanceof RetriableError, String(error));
      assert.equal(classifyFailure(error), 'retriable');
      return true;
    });
  });

  test('padding to the preferred batch sizes returns only the real rows, unchanged', async () => {
    const model = await LoadedModel.load(MODEL_DIR, {
      ...CPU,
      inferenceThreads: 1,
      padToPreferredBatchSize: true,
    });
    try {
      for (const count of [5, 33, 64, 70]) {
        const { matrix, rows } = batchOf(500 + count, count);
        assertMatchesReference(await model.predict(matrix, count), rows);
      }
    } finally {
      await model.close();
    }
  });

  test('device "cuda" without the CUDA provider is a ModelLoadError mentioning cuda', async () => {
    await assert.rejects(
      LoadedModel.load(MODEL_DIR, { ...CPU, device: 'cuda' }),
      (error: unknown) => {
        assert.ok(error instanceof ModelLoadError, `expected ModelLoadError, got ${String(error)}`);
        assert.match(error.message, /device "cuda"/);
        assert.match(error.message, /CUDA provider/);
        assert.ok(error.message.includes(path.join(MODEL_DIR, 'model.onnx')), error.message);
        return true;
      },
    );
  });

  test('the main thread keeps ticking while a batch blocks the inference thread', async () => {
    const model = await LoadedModel.load(MODEL_DIR, {
      ...CPU,
      inferenceThreads: 1,
      debugInferenceDelayMs: 300,
    });
    try {
      const { matrix, rows } = batchOf(0, 8);
      let ticks = 0;
      let longestGap = 0;
      let last = performance.now();
      const interval = setInterval(() => {
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
        ticks++;
      }, 10);
      const started = performance.now();
      let predictions: RowResult[];
      try {
        predictions = await model.predict(matrix, 8);
      } finally {
        clearInterval(interval);
      }
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 290, `the batch was delayed (${elapsed.toFixed(0)} ms)`);
      assert.ok(ticks >= 10, `only ${ticks} ticks in ${elapsed.toFixed(0)} ms`);
      assert.ok(longestGap < 150, `the main thread stalled for ${longestGap.toFixed(0)} ms`);
      assertMatchesReference(predictions, rows);
    } finally {
      await model.close();
    }
  });
});

describe('LoadedModel from the TypeScript sources', () => {
  test('starts its inference thread under node --import tsx', async () => {
    const source = await import('../../src/model/loaded-model.js');
    const model = await source.LoadedModel.load(MODEL_DIR, { ...CPU, inferenceThreads: 1 });
    await model.close();
  });
});

describe('InferencePool losing a thread it cannot replace', () => {
  test('fails batches with an InferenceError naming why, then serves again once one starts', async () => {
    const { InferencePool } = await fromDist<typeof InferencePoolModule>('model/inference-pool.js');
    const { InferenceError } = await fromDist<typeof ErrorsModule>('errors.js');
    const directory = mkdtempSync(path.join(tmpdir(), 'pool-'));
    cpSync(MODEL_DIR, directory, { recursive: true });
    const threadErrors: Error[] = [];
    const pool = await InferencePool.start(
      {
        ...CPU,
        modelDir: directory,
        deviceLock: new SharedArrayBuffer(4),
        preparation: {},
        padToPreferredBatchSize: false,
      },
      1,
      undefined,
      (error) => threadErrors.push(error),
    );
    try {
      const { matrix } = batchOf(0, 2);
      assert.equal((await pool.run(matrix, 2)).length, 4);
      // The model goes away, then its only thread dies: the replacement cannot load it.
      renameSync(path.join(directory, 'model.onnx'), path.join(directory, 'model.onnx.away'));
      const slots = (pool as unknown as { slots: { worker: { terminate(): Promise<number> } }[] })
        .slots;
      await slots[0]!.worker.terminate();
      await waitUntil(() => threadErrors.length > 0);
      await assert.rejects(pool.run(matrix, 2), (error: unknown) => {
        assert.ok(error instanceof InferenceError, String(error));
        assert.match((error as Error).message, /no inference thread is running/);
        assert.equal(classifyFailure(error), 'model-fault');
        return true;
      });
      // Back: a later try with backoff starts a thread, and batches run again.
      renameSync(path.join(directory, 'model.onnx.away'), path.join(directory, 'model.onnx'));
      await waitUntil(async () => {
        try {
          return (await pool.run(matrix, 2)).length === 4;
        } catch {
          return false;
        }
      });
    } finally {
      await pool.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

async function waitUntil(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, 'condition not met within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
