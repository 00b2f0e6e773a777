/**
 * MicroBatcher: a batch is cut at maxBatchSize items or maxBatchDelayMs after its first item,
 * whichever comes first, and sooner when a runner is idle (at the end of the turn) or frees up;
 * cut() flushes whatever is pending; items keep their order.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroBatcher } from '../../src/batch/micro-batcher.js';

function collecting<T>(
  maxBatchSize: number,
  maxBatchDelayMs: number,
  runnerIdle?: () => boolean,
): { batcher: MicroBatcher<T>; batches: T[][]; cutAt: number[] } {
  const batches: T[][] = [];
  const cutAt: number[] = [];
  const batcher = new MicroBatcher<T>(
    { maxBatchSize, maxBatchDelayMs },
    (batch) => {
      batches.push(batch);
      cutAt.push(performance.now());
    },
    runnerIdle,
  );
  return { batcher, batches, cutAt };
}

describe('MicroBatcher', () => {
  test('cuts synchronously when maxBatchSize items are in', () => {
    const { batcher, batches } = collecting<number>(3, 60_000);
    batcher.add(1);
    batcher.add(2);
    assert.equal(batches.length, 0);
    assert.equal(batcher.size, 2);
    batcher.add(3);
    assert.deepEqual(batches, [[1, 2, 3]]);
    assert.equal(batcher.size, 0);
    for (let i = 4; i <= 10; i++) batcher.add(i);
    assert.deepEqual(batches, [
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ]);
    assert.equal(batcher.size, 1);
    batcher.cut(); // do not leave the 60 s timer behind
    assert.deepEqual(batches.at(-1), [10]);
  });

  test('maxBatchSize 1 emits every item on its own', () => {
    const { batcher, batches } = collecting<string>(1, 60_000);
    batcher.add('a');
    batcher.add('b');
    assert.deepEqual(batches, [['a'], ['b']]);
  });

  test('cuts maxBatchDelayMs after the first item, not the last', async () => {
    const { batcher, batches, cutAt } = collecting<number>(100, 40);
    const first = performance.now();
    batcher.add(1);
    await sleep(20);
    batcher.add(2); // must not restart the timer
    await sleep(10);
    batcher.add(3);
    assert.equal(batches.length, 0, 'nothing cut before the delay');
    await sleep(60);
    assert.deepEqual(batches, [[1, 2, 3]]);
    const waited = cutAt[0]! - first;
    assert.ok(waited >= 38 && waited < 250, `cut ${waited.toFixed(1)} ms after the first item`);
  });

  test('the delay restarts with the first item of the next batch', async () => {
    const { batcher, batches } = collecting<number>(100, 15);
    batcher.add(1);
    await sleep(40);
    assert.deepEqual(batches, [[1]]);
    await sleep(30);
    assert.equal(batches.length, 1, 'no empty batches from an idle timer');
    batcher.add(2);
    batcher.add(3);
    await sleep(40);
    assert.deepEqual(batches, [[1], [2, 3]]);
  });

  test('a size cut cancels the pending delay timer', async () => {
    const { batcher, batches } = collecting<number>(2, 15);
    batcher.add(1);
    batcher.add(2); // size cut
    await sleep(40);
    assert.deepEqual(batches, [[1, 2]], 'the timer of the cut batch did not fire again');
  });

  test('maxBatchDelayMs 0 cuts on the next timer turn', async () => {
    const { batcher, batches } = collecting<number>(100, 0);
    batcher.add(1);
    batcher.add(2);
    assert.equal(batches.length, 0);
    await sleep(5);
    assert.deepEqual(batches, [[1, 2]]);
  });

  test('cut() flushes what is pending and clears the timer', async () => {
    const { batcher, batches } = collecting<number>(100, 20);
    batcher.add(1);
    batcher.add(2);
    batcher.cut();
    assert.deepEqual(batches, [[1, 2]]);
    assert.equal(batcher.size, 0);
    await sleep(40);
    assert.deepEqual(batches, [[1, 2]], 'no second (empty) cut from the old timer');
  });

  test('cut() with nothing pending emits nothing', () => {
    const { batcher, batches } = collecting<number>(10, 10);
    batcher.cut();
    batcher.cut();
    assert.deepEqual(batches, []);
  });

  test('order is preserved across size cuts, delay cuts and explicit cuts', async () => {
    const { batcher, batches } = collecting<number>(4, 10);
    let next = 0;
    for (let i = 0; i < 6; i++) batcher.add(next++); // one size cut + 2 pending
    await sleep(30); // delay cut
    for (let i = 0; i < 3; i++) batcher.add(next++);
    batcher.cut(); // explicit cut
    for (let i = 0; i < 9; i++) batcher.add(next++); // two size cuts + 1 pending
    await sleep(30);
    assert.deepEqual(
      batches.flat(),
      Array.from({ length: next }, (_, i) => i),
    );
    assert.deepEqual(
      batches.map((b) => b.length),
      [4, 2, 3, 4, 4, 1],
    );
  });

  test('with a runner idle, the rows of one turn go together at its end, not after the delay', async () => {
    const { batcher, batches } = collecting<number>(100, 60_000, () => true);
    for (let i = 0; i < 5; i++) batcher.add(i);
    assert.deepEqual(batches, [], 'not cut while rows are still arriving in this turn');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(batches, [[0, 1, 2, 3, 4]]);
    assert.equal(batcher.size, 0);
  });

  test('with every runner busy, rows wait; a runner freed takes them at once', async () => {
    let busy = true;
    const { batcher, batches } = collecting<number>(100, 60_000, () => !busy);
    batcher.add(1);
    batcher.add(2);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(batches, [], 'no runner idle: the batch keeps growing');
    busy = false;
    batcher.runnerFreed();
    assert.deepEqual(batches, [[1, 2]]);
    batcher.runnerFreed();
    assert.deepEqual(batches, [[1, 2]], 'nothing pending: nothing cut');
  });

  test('a busy runner never holds a batch past maxBatchDelayMs', async () => {
    const { batcher, batches } = collecting<number>(100, 20, () => false);
    batcher.add(1);
    await sleep(60);
    assert.deepEqual(batches, [[1]]);
  });
});
