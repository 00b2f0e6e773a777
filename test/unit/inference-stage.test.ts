/**
 * InferenceStage with a fake model: a batch the model fails on is bisected until only the rows
 * at fault fail (a PoisonInputError, stage "infer"); every other row gets its own prediction, in
 * input order. When no row succeeds, or the model fails even on an all-zero row, it is a model
 * fault (ModelFaultError), and no row is poison. Retriable failures are retried as a whole batch
 * until they heal or the worker stops.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  InferenceError,
  ModelFaultError,
  PoisonInputError,
  RetriableError,
} from '../../src/errors.js';
import type { LoadedModel } from '../../src/model/loaded-model.js';
import { createLogger } from '../../src/observability/logger.js';
import {
  InferenceStage,
  MODEL_FAULT_STREAK,
  type RowResult,
} from '../../src/pipeline/inference-stage.js';

const WIDTH = 3;
const POISON = -999;
/** A row whose first column is NON_FINITE is answered with NaN (LoadedModel's poison for it). */
const NON_FINITE = -777;
const BACKOFF = { initialMs: 1, maxMs: 2 };
const logger = createLogger('silent');

/**
 * A LoadedModel stand-in: each row predicts the regression value sum(row); a batch holding a row
 * whose first column is POISON fails as a whole with an InferenceError, as ONNX Runtime would.
 */
class FakeModel {
  readonly featurizer = { width: WIDTH };
  readonly identity = { name: 'fake', version: '7', provider: 'cpu' };
  /** Row counts of every predict call, in order. */
  readonly calls: number[] = [];
  /** Errors to throw on the next calls, before looking at the rows. */
  readonly failures: Error[] = [];
  /** A broken model fails on every call, the all-zero probe included. */
  broken = false;
  /** The all-zero row is answered with NaN too. */
  nanOnZero = false;
  /** Errors the next probes throw (a thread that exited, a closed pool). */
  readonly probeFailures: Error[] = [];
  probes = 0;

  async probe(): Promise<boolean> {
    this.probes++;
    const failure = this.probeFailures.shift();
    if (failure) throw failure;
    return !this.broken && !this.nanOnZero;
  }

  async predict(rows: Float32Array, count: number): Promise<RowResult[]> {
    this.calls.push(count);
    await Promise.resolve();
    assert.equal(rows.length, count * WIDTH, 'the stage stacks exactly `count` rows');
    const failure = this.failures.shift();
    if (failure) throw failure;
    if (this.broken) throw new InferenceError('Reshape: incompatible shape');
    const predictions: RowResult[] = [];
    for (let i = 0; i < count; i++) {
      const row = rows.subarray(i * WIDTH, (i + 1) * WIDTH);
      if (row[0] === POISON) throw new InferenceError(`bad value in row ${i} of ${count}`);
      if (row[0] === NON_FINITE) {
        predictions.push(
          new PoisonInputError('infer', 'the model answered NaN for this row', {
            reason: 'non-finite-output',
          }),
        );
        continue;
      }
      predictions.push({ kind: 'regression', value: row[0]! + row[1]! + row[2]! });
    }
    return predictions;
  }

  asLoadedModel(): LoadedModel {
    return this as unknown as LoadedModel;
  }
}

/** Row i is [i, 10 i, 0.5] (prediction 11 i + 0.5), or POISON for the listed indexes. */
function rowsOf(count: number, poisoned: number[] = []): [Float32Array, number] {
  const rows = Array.from({ length: count }, (_, i) =>
    poisoned.includes(i) ? [POISON, 0, 0] : [i, 10 * i, 0.5],
  );
  return [Float32Array.from(rows.flat()), count];
}

function stage(running: () => boolean = () => true): InferenceStage {
  return new InferenceStage(BACKOFF, running, logger);
}

/** Asserts one result per row: its own prediction, or a stage "infer" PoisonInputError. */
function assertResults(results: RowResult[], count: number, poisoned: number[]): void {
  assert.equal(results.length, count, 'one result per row');
  results.forEach((result, i) => {
    if (poisoned.includes(i)) {
      assert.ok(result instanceof PoisonInputError, `row ${i} fails`);
      assert.equal(result.stage, 'infer');
      assert.equal(result.message, 'model failed on this row: bad value in row 0 of 1');
    } else {
      assert.ok(!(result instanceof PoisonInputError), `row ${i} is predicted`);
      assert.deepEqual(result, { kind: 'regression', value: 11 * i + 0.5 }, `row ${i}`);
    }
  });
}

describe('InferenceStage', () => {
  test('a healthy batch: one call, every row predicted in order', async () => {
    const model = new FakeModel();
    const results = await stage().run(model.asLoadedModel(), ...rowsOf(5));
    assert.deepEqual(model.calls, [5]);
    assertResults(results, 5, []);
  });

  test('one poisoned row in 8: bisected, only that row fails', async () => {
    const model = new FakeModel();
    const results = await stage().run(model.asLoadedModel(), ...rowsOf(8, [5]));
    assertResults(results, 8, [5]);
    // [0-7] fails; [0-3] ok; [4-7] fails; [4,5] fails; [4] ok; [5] fails; [6,7] ok.
    assert.deepEqual(model.calls, [8, 4, 4, 2, 1, 1, 2]);
  });

  test('two poisoned rows of two: poison, not yet a model fault', async () => {
    const model = new FakeModel();
    const results = await stage().run(model.asLoadedModel(), ...rowsOf(2, [0, 1]));
    assertResults(results, 2, [0, 1]);
  });

  test('several poisoned rows in an odd batch', async () => {
    const model = new FakeModel();
    const poisoned = [0, 6, 7, 12];
    const results = await stage().run(model.asLoadedModel(), ...rowsOf(13, poisoned));
    assertResults(results, 13, poisoned);
  });

  test('no row of the batch succeeds alone: a model fault, nothing is poison', async () => {
    const model = new FakeModel();
    await assert.rejects(stage().run(model.asLoadedModel(), ...rowsOf(3, [0, 1, 2])), (error) => {
      assert.ok(error instanceof ModelFaultError);
      assert.equal(error.rows, 3);
      assert.equal(error.modelVersion, '7');
      assert.match(error.message, /model fake version 7 failed on 3 rows in a row, each alone/);
      return true;
    });
    assert.equal(model.probes, 1, 'the zero row passed, so the rows were tried alone');
  });

  test('a model that fails even on an all-zero row: a model fault at once, no bisection', async () => {
    const model = new FakeModel();
    model.broken = true;
    await assert.rejects(stage().run(model.asLoadedModel(), ...rowsOf(64)), (error) => {
      assert.ok(error instanceof ModelFaultError);
      assert.match(error.message, /fails on an all-zero row: Reshape: incompatible shape/);
      return true;
    });
    assert.deepEqual(model.calls, [64], 'one failed call, then the probe; never split');
  });

  test('a single row the model fails on, while the model works: poison', async () => {
    const model = new FakeModel();
    const results = await stage().run(model.asLoadedModel(), ...rowsOf(1, [0]));
    assertResults(results, 1, [0]);
    assert.equal(model.probes, 1);
  });

  test('rows failing alone in a row become a model fault; a success resets the count', async () => {
    const model = new FakeModel();
    const inference = stage();
    assertResults(await inference.run(model.asLoadedModel(), ...rowsOf(1, [0])), 1, [0]);
    assertResults(await inference.run(model.asLoadedModel(), ...rowsOf(1, [0])), 1, [0]);
    assertResults(await inference.run(model.asLoadedModel(), ...rowsOf(2)), 2, []);
    assertResults(await inference.run(model.asLoadedModel(), ...rowsOf(1, [0])), 1, [0]);
    assertResults(await inference.run(model.asLoadedModel(), ...rowsOf(1, [0])), 1, [0]);
    await assert.rejects(
      inference.run(model.asLoadedModel(), ...rowsOf(1, [0])),
      (error) => error instanceof ModelFaultError && /3 rows in a row/.test(error.message),
    );
    await assert.rejects(
      inference.run(model.asLoadedModel(), ...rowsOf(1, [0])),
      ModelFaultError,
      'still faulted until a success',
    );
  });

  test('a replaceable model that has not answered yet: its first row failing alone is its fault', async () => {
    const model = new FakeModel();
    const loaded = model.asLoadedModel();
    const replaceable = new InferenceStage(
      BACKOFF,
      () => true,
      logger,
      () => true,
    );
    await assert.rejects(
      replaceable.run(loaded, ...rowsOf(1, [0])),
      (error) => error instanceof ModelFaultError && /its first 1 rows/.test(error.message),
      'the version it replaced serves the row instead of the DLQ',
    );
    // Once it has answered, one bad row is the row's fault again.
    assertResults(await replaceable.run(loaded, ...rowsOf(2)), 2, []);
    assertResults(await replaceable.run(loaded, ...rowsOf(1, [0])), 1, [0]);
    // Nothing to replace it: the same row is poison.
    assertResults(await stage().run(new FakeModel().asLoadedModel(), ...rowsOf(1, [0])), 1, [0]);
  });

  test('a single poisoned row fails after one call', async () => {
    const model = new FakeModel();
    const results = await stage().run(model.asLoadedModel(), ...rowsOf(1, [0]));
    assertResults(results, 1, [0]);
    assert.deepEqual(model.calls, [1]);
  });

  test('a RetriableError is retried on the whole batch until it heals', async () => {
    const model = new FakeModel();
    model.failures.push(
      new RetriableError('inference thread exited while running a batch'),
      new RetriableError('inference pool is closed'),
    );
    const results = await stage().run(model.asLoadedModel(), ...rowsOf(4));
    assert.deepEqual(model.calls, [4, 4, 4], 'two failures, then success, never split');
    assertResults(results, 4, []);
  });

  test('a retriable failure inside a bisected half is retried, not turned into poison', async () => {
    const model = new FakeModel();
    const predict = model.predict.bind(model);
    let call = 0;
    model.predict = async (matrix, count) => {
      call++;
      if (call === 2) {
        model.calls.push(count);
        throw new RetriableError('thread crashed'); // the first half's first try
      }
      return predict(matrix, count);
    };
    const results = await stage().run(model.asLoadedModel(), ...rowsOf(4, [3]));
    assertResults(results, 4, [3]);
    assert.deepEqual(model.calls, [4, 2, 2, 2, 1, 1]);
  });

  test('a retriable failure while stopping propagates', async () => {
    const model = new FakeModel();
    const failure = new RetriableError('inference pool closed');
    model.failures.push(failure);
    await assert.rejects(
      stage(() => false).run(model.asLoadedModel(), ...rowsOf(3)),
      (error) => error === failure,
    );
    assert.deepEqual(model.calls, [3]);
  });

  test('an unexpected error is not bisected into per-row poison', async () => {
    const model = new FakeModel();
    const bug = new TypeError('cannot read properties of undefined');
    model.failures.push(bug);
    await assert.rejects(
      stage(() => false).run(model.asLoadedModel(), ...rowsOf(2)),
      (error) => error === bug,
    );
    assert.deepEqual(model.calls, [2]);
  });

  test('a row answered with NaN fails alone (non-finite-output); the others are predicted', async () => {
    const model = new FakeModel();
    const [rows, count] = rowsOf(6);
    rows[3 * WIDTH] = NON_FINITE;
    const results = await stage().run(model.asLoadedModel(), rows, count);
    assert.deepEqual(model.calls, [6], 'one call: the rows are answered, not split');
    assert.equal(model.probes, 0);
    results.forEach((result, i) => {
      if (i === 3) {
        assert.ok(result instanceof PoisonInputError);
        assert.equal(result.reason, 'non-finite-output');
      } else {
        assert.deepEqual(result, { kind: 'regression', value: 11 * i + 0.5 });
      }
    });
  });

  test('every row answered with NaN while the zero row is finite: poison, then a streak fault', async () => {
    const model = new FakeModel();
    const inference = stage();
    const nan = (): [Float32Array, number] => [Float32Array.of(NON_FINITE, 0, 0), 1];
    for (let i = 0; i < MODEL_FAULT_STREAK - 1; i++) {
      const [result] = await inference.run(model.asLoadedModel(), ...nan());
      assert.ok(result instanceof PoisonInputError && result.reason === 'non-finite-output');
    }
    assert.equal(model.probes, MODEL_FAULT_STREAK - 1, 'the zero row was asked each time');
    await assert.rejects(inference.run(model.asLoadedModel(), ...nan()), ModelFaultError);
  });

  test('NaN for every row and for the all-zero row: a model fault at once', async () => {
    const model = new FakeModel();
    model.nanOnZero = true;
    const [rows, count] = rowsOf(4);
    for (let i = 0; i < count; i++) rows[i * WIDTH] = NON_FINITE;
    await assert.rejects(stage().run(model.asLoadedModel(), rows, count), (error) => {
      assert.ok(error instanceof ModelFaultError);
      assert.match(error.message, /answers an all-zero row with NaN or Infinity/);
      return true;
    });
  });

  test('a probe that loses its thread is retried, not read as a model fault', async () => {
    const model = new FakeModel();
    model.probeFailures.push(new RetriableError('inference thread exited while running a batch'));
    const results = await stage().run(model.asLoadedModel(), ...rowsOf(1, [0]));
    assertResults(results, 1, [0]);
    assert.equal(model.probes, 2, 'the probe ran again after the retriable failure');
  });

  test('the rows passed in are not modified', async () => {
    const model = new FakeModel();
    const [rows, count] = rowsOf(4, [1]);
    const copy = Float32Array.from(rows);
    await stage().run(model.asLoadedModel(), rows, count);
    assert.deepEqual(rows, copy);
  });
});
