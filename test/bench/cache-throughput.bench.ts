/**
 * Section 4: the prediction cache on a repeated-input stream. embedding-mlp (the heavy model,
 * where a hit saves most) on N events that carry only D distinct embeddings: event i is
 * embeddingEvent(i % D) with an id of its own, so ids differ and feature rows repeat. Once with
 * the cache disabled and once with Redis (a key prefix unique to this run, deleted afterwards);
 * both with the worker options of section 3. Then a third, labelled "redis, warm": the same
 * stream again on fresh topics with the same key prefix, which is what a redelivery finds. (On a
 * backlog that fits the in-flight caps every batch looks Redis up before any batch has stored its
 * answers, so the cold pass can hit only what an earlier batch had finished.)
 */
import { Redis } from 'ioredis';
import { uniqueName } from '../helpers/kafka-test-helpers.js';
import { jsonMessage, workerConfigFor } from '../helpers/pipeline-fixture.js';
import { embeddingEvent } from '../helpers/sample-events.js';
import { EMBEDDING_MODEL } from './bench-models.js';
import { markdownTable, fmt, progress, ratio } from './bench-table.js';
import { prefilledInput, removePipeline } from './prefilled-input.js';
import { drainWithWorker, type WorkerDrain } from './worker-drain.js';
import { WORKER_OPTIONS } from './throughput.bench.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

export interface CacheRun extends WorkerDrain {
  cache: string;
}

export async function benchCacheThroughput(
  events: number,
  distinctRows: number,
  timeoutMs: number,
): Promise<{ distinctRows: number; runs: CacheRun[] }> {
  const messages = Array.from({ length: events }, (_, i) =>
    jsonMessage({ ...embeddingEvent(i % distinctRows), id: `emb-repeat-${i}` }),
  );
  const keyPrefix = uniqueName('bench-cache');
  const runs: CacheRun[] = [];
  for (const [name, cache] of [
    ['disabled', { enabled: false }],
    ['redis', { redisUrl: REDIS_URL, keyPrefix }],
    ['redis, warm', { redisUrl: REDIS_URL, keyPrefix }],
  ] as const) {
    const { topics, end } = await prefilledInput(
      `bench-cache-${name.replace(/\W+/g, '-')}`,
      messages,
    );
    try {
      progress(`worker ${EMBEDDING_MODEL.label}, cache ${name}`);
      const config = workerConfigFor(topics, EMBEDDING_MODEL.dir, { ...WORKER_OPTIONS, cache });
      runs.push({ cache: name, ...(await drainWithWorker(topics, end, config, timeoutMs)) });
    } finally {
      await removePipeline(topics);
    }
  }
  await deleteRedisKeys(`${keyPrefix}:*`);
  return { distinctRows, runs };
}

async function deleteRedisKeys(pattern: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } catch (error) {
    progress(`could not delete Redis keys ${pattern}: ${String(error)}`);
  } finally {
    redis.disconnect();
  }
}

export function cacheTable(result: { distinctRows: number; runs: readonly CacheRun[] }): string {
  const baseline = result.runs.find((run) => run.cache === 'disabled');
  return markdownTable(
    [
      'cache',
      'events',
      'distinct rows',
      'seconds',
      'events/s',
      'vs disabled',
      'hits',
      'lookups',
      'hit ratio',
      'lookup errors',
      'store errors',
      'inference calls',
      'mean batch',
    ],
    result.runs.map((run) => [
      run.cache,
      fmt(run.events),
      fmt(result.distinctRows),
      fmt(run.seconds, 2),
      fmt(run.eventsPerSecond),
      baseline ? ratio(run.eventsPerSecond, baseline.eventsPerSecond) : 'n/a',
      fmt(run.cacheHits),
      fmt(run.cacheLookups),
      run.cacheLookups > 0 ? `${fmt((100 * run.cacheHits) / run.cacheLookups, 1)}%` : 'n/a',
      fmt(run.cacheGetErrors),
      fmt(run.cacheSetErrors),
      fmt(run.inferenceCalls),
      fmt(run.meanBatchSize, 1),
    ]),
  );
}
