/**
 * backoffDelay stays within [ceiling/2, ceiling] with ceiling = min(max, initial * 2^attempt);
 * retryWithBackoff retries retriable errors, stops on a non-retriable one and when
 * shouldContinue() turns false, rethrowing the last error.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { backoffDelay, retryWithBackoff } from '../../src/batch/backoff.js';

const realRandom = Math.random;
afterEach(() => {
  Math.random = realRandom;
});

describe('backoffDelay', () => {
  const options = { initialMs: 100, maxMs: 1_000 };

  test('exact bounds with the lowest and highest random draw', () => {
    const cases: [number, number][] = [
      [0, 100],
      [1, 200],
      [2, 400],
      [3, 800],
      [4, 1_000],
      [10, 1_000],
    ];
    for (const [attempt, ceiling] of cases) {
      Math.random = () => 0;
      assert.equal(backoffDelay(attempt, options), ceiling / 2, `attempt ${attempt} low`);
      Math.random = () => 0.999_999_999;
      assert.equal(backoffDelay(attempt, options), ceiling, `attempt ${attempt} high`);
    }
  });

  test('random draws stay within [ceiling/2, ceiling] and are integers', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(1_000, 100 * 2 ** attempt);
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelay(attempt, options);
        assert.ok(Number.isInteger(delay), `${delay} is an integer`);
        assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: ${delay}`);
      }
    }
  });

  test('huge attempt numbers do not overflow to Infinity or NaN', () => {
    for (const attempt of [31, 100, 1_000, Number.MAX_SAFE_INTEGER]) {
      const delay = backoffDelay(attempt, { initialMs: 200, maxMs: 10_000 });
      assert.ok(delay >= 5_000 && delay <= 10_000, `attempt ${attempt}: ${delay}`);
    }
  });

  test('the ceiling never exceeds maxMs even when initialMs does', () => {
    Math.random = () => 0.999_999_999;
    assert.equal(backoffDelay(0, { initialMs: 500, maxMs: 300 }), 300);
  });
});

class Transient extends Error {}
class Fatal extends Error {}
const isRetriable = (error: unknown): boolean => error instanceof Transient;

describe('retryWithBackoff', () => {
  test('returns the first success, passing the attempt number', async () => {
    const attempts: number[] = [];
    const retries: [string, number, number][] = [];
    const result = await retryWithBackoff(
      async (attempt) => {
        attempts.push(attempt);
        if (attempt < 3) throw new Transient(`fail ${attempt}`);
        return 'done';
      },
      {
        initialMs: 1,
        maxMs: 4,
        isRetriable,
        shouldContinue: () => true,
        onRetry: (error, attempt, delay) =>
          retries.push([(error as Error).message, attempt, delay]),
      },
    );
    assert.equal(result, 'done');
    assert.deepEqual(attempts, [0, 1, 2, 3]);
    assert.deepEqual(
      retries.map(([message, attempt]) => [message, attempt]),
      [
        ['fail 0', 0],
        ['fail 1', 1],
        ['fail 2', 2],
      ],
    );
    retries.forEach(([, attempt, delay]) => {
      const ceiling = Math.min(4, 2 ** attempt);
      assert.ok(delay >= ceiling / 2 && delay <= ceiling, `delay ${delay}`);
    });
  });

  test('no retry and no onRetry when the first attempt succeeds', async () => {
    let retried = false;
    const result = await retryWithBackoff(async () => 42, {
      initialMs: 1,
      maxMs: 1,
      isRetriable,
      shouldContinue: () => true,
      onRetry: () => (retried = true),
    });
    assert.equal(result, 42);
    assert.equal(retried, false);
  });

  test('a non-retriable error is rethrown at once', async () => {
    const fatal = new Fatal('bad input');
    let calls = 0;
    let retried = 0;
    await assert.rejects(
      retryWithBackoff(
        async () => {
          calls++;
          if (calls === 1) throw new Transient('first');
          throw fatal;
        },
        {
          initialMs: 1,
          maxMs: 1,
          isRetriable,
          shouldContinue: () => true,
          onRetry: () => retried++,
        },
      ),
      (error) => error === fatal,
    );
    assert.equal(calls, 2);
    assert.equal(retried, 1);
  });

  test('stops when shouldContinue() is false, rethrowing the last error', async () => {
    let calls = 0;
    let lastThrown: Error | undefined;
    await assert.rejects(
      retryWithBackoff(
        async () => {
          calls++;
          lastThrown = new Transient(`attempt ${calls}`);
          throw lastThrown;
        },
        { initialMs: 1, maxMs: 1, isRetriable, shouldContinue: () => calls < 3 },
      ),
      (error) => error === lastThrown && (error as Error).message === 'attempt 3',
    );
    assert.equal(calls, 3);
  });

  test('shouldContinue false from the start: one attempt only', async () => {
    let calls = 0;
    await assert.rejects(
      retryWithBackoff(
        async () => {
          calls++;
          throw new Transient('x');
        },
        { initialMs: 1, maxMs: 1, isRetriable, shouldContinue: () => false },
      ),
      Transient,
    );
    assert.equal(calls, 1);
  });

  test('really waits between attempts', async () => {
    Math.random = () => 0.999_999_999; // delays of exactly 20, 40
    const times: number[] = [];
    await retryWithBackoff(
      async (attempt) => {
        times.push(performance.now());
        if (attempt < 2) throw new Transient('again');
      },
      { initialMs: 20, maxMs: 1_000, isRetriable, shouldContinue: () => true },
    );
    assert.equal(times.length, 3);
    assert.ok(times[1]! - times[0]! >= 18, `first wait ${times[1]! - times[0]!}`);
    assert.ok(times[2]! - times[1]! >= 38, `second wait ${times[2]! - times[1]!}`);
  });
});
