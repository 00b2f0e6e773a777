/**
 * Cache keys and the embedded in-process LRU: the version is part of every key, an event id
 * replaces the row hash when configured, and the LRU honours its size bound and TTL.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InProcessLruCache } from '../../src/cache/in-process-lru-cache.js';
import { predictionCacheKey } from '../../src/cache/prediction-cache.js';
import type { Prediction } from '../../src/model/postprocessor.js';

const V1 = { name: 'fraud-mlp', version: '1' };
const V2 = { name: 'fraud-mlp', version: '2' };
const value = (v: number): Prediction => ({ kind: 'regression', value: v });

describe('predictionCacheKey', () => {
  test('same row, same version: same key; another version: another key', () => {
    const row = Float32Array.from([1, 2, 3]);
    assert.equal(
      predictionCacheKey('p', V1, row),
      predictionCacheKey('p', V1, Float32Array.from([1, 2, 3])),
    );
    assert.notEqual(predictionCacheKey('p', V1, row), predictionCacheKey('p', V2, row));
    assert.notEqual(
      predictionCacheKey('p', V1, row),
      predictionCacheKey('p', V1, Float32Array.from([1, 2, 4])),
    );
    assert.match(predictionCacheKey('p', V1, row), /^p:fraud-mlp:1:/);
  });

  test('an event id replaces the row hash', () => {
    const key = predictionCacheKey('p', V1, Float32Array.from([9]), 'evt-7');
    assert.equal(key, 'p:fraud-mlp:1:id:evt-7');
  });

  test('a row that is a view into a larger buffer hashes only its own bytes', () => {
    const buffer = Float32Array.from([0, 1, 2, 3, 0]);
    assert.equal(
      predictionCacheKey('p', V1, buffer.subarray(1, 4)),
      predictionCacheKey('p', V1, Float32Array.from([1, 2, 3])),
    );
  });
});

describe('InProcessLruCache', () => {
  test('returns what was stored, misses what was not', async () => {
    const cache = new InProcessLruCache(10, 60_000);
    cache.setMany([['a', value(1)]]);
    assert.deepEqual(await cache.getMany(['a', 'b']), [value(1), undefined]);
  });

  test('evicts the least recently used beyond its size', async () => {
    const cache = new InProcessLruCache(2, 60_000);
    cache.setMany([
      ['a', value(1)],
      ['b', value(2)],
    ]);
    await cache.getMany(['a']); // a is now the most recent
    cache.setMany([['c', value(3)]]);
    assert.deepEqual(await cache.getMany(['a', 'b', 'c']), [value(1), undefined, value(3)]);
  });

  test('expires entries after the TTL', async () => {
    const cache = new InProcessLruCache(10, 30);
    cache.setMany([['a', value(1)]]);
    await sleep(60);
    assert.deepEqual(await cache.getMany(['a']), [undefined]);
  });
});
