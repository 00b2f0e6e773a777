import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REDIS_URL } from '../../deploy/local/redis.js';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { produceInBackground } from '../helpers/background-producer.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { uniqueName, waitFor, type ReadRecord } from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  jsonMessage,
  produceMessages,
  readOutputs,
  sourceOf,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { checkDelivery } from '../helpers/delivery-check.js';
import { faultScale, recordFaultFigures } from '../helpers/fault-figures.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const MODEL = 'models/fraud-mlp/1';

function cachedConfig(
  topics: PipelineTopics,
  keyPrefix: string,
  delivery: Record<string, unknown> = {},
  redisUrl = REDIS_URL,
) {
  return workerConfigFor(topics, MODEL, {
    kafka: { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 },
    // Generous timeout: on a loaded CI machine a slow reply must not turn a hit into a miss.
    cache: { redisUrl, keyPrefix, commandTimeoutMs: 1_000 },
    delivery,
  });
}

function predictionOf(record: ReadRecord) {
  const { label, confidence, topK, modelVersion } = JSON.parse(record.value.toString());
  return { label, confidence, topK, modelVersion };
}

describe('Redis prediction cache: redeliveries cost nothing, outages cost nothing', () => {
  const workers: WorkerProcess[] = [];
  const topicsToDelete: PipelineTopics[] = [];
  const servers: PrivateRedis[] = [];

  before(async () => {
    await ensureStackUp();
  });
  after(async () => {
    for (const worker of workers) worker.child.kill('SIGKILL');
    for (const server of servers) await server.kill();
    for (const topics of topicsToDelete) await deletePipelineTopics(topics);
  });

  it('serves every redelivery after a SIGKILL from the cache, with the same prediction', async () => {
    const topics = await createPipelineTopics('cache-redeliver', 3);
    topicsToDelete.push(topics);
    const events = 3_000;
    // Commit rarely, so that the kill leaves everything uncommitted and all of it is redelivered.
    const config = cachedConfig(topics, uniqueName('redeliver'), { commitIntervalMs: 600_000 });
    const first = await WorkerProcess.start(config);
    workers.push(first);
    await first.waitReady();
    await produceMessages(
      topics.input,
      Array.from({ length: events }, (_, i) => jsonMessage(fraudEvent(i))),
    );
    await readOutputs(topics, events);
    assert.equal(
      await first.metric('inference_cache_lookups_total{result="miss"}'),
      events,
      'first pass: all misses',
    );
    await sleep(500); // cache writes are in the background
    await first.kill('SIGKILL');

    const second = await WorkerProcess.start(config);
    workers.push(second);
    await second.waitReady();
    await waitFor(async () => (await second.metric('inference_predictions_total')) >= events, {
      timeoutMs: 60_000,
      message: 'the redelivered events to be produced again',
    });
    const { predictions } = await readOutputs(topics, events);
    const hits = await second.metric('inference_cache_lookups_total{result="hit"}');
    const misses = await second.metric('inference_cache_lookups_total{result="miss"}');
    const errors = await second.metric('inference_cache_errors_total');
    process.stdout.write(
      `# redelivery: ${hits} hits, ${misses} misses (${errors} cache errors), ` +
        `hit ratio ${(hits / (hits + misses)).toFixed(3)}\n`,
    );
    assert.equal(hits, events, 'every redelivered event was a cache hit');
    assert.equal(misses, 0);

    const bySource = new Map<string, ReadRecord[]>();
    for (const record of predictions) {
      const source = sourceOf(record);
      bySource.set(source, [...(bySource.get(source) ?? []), record]);
    }
    assert.equal(bySource.size, events);
    for (const [source, records] of bySource) {
      assert.equal(records.length, 2, `${source} predicted twice: original and redelivery`);
      assert.deepEqual(
        predictionOf(records[1]!),
        predictionOf(records[0]!),
        `${source}: the cached answer is the original`,
      );
    }
  });

  /** A worker with its own Redis, which is stopped under load and started again. */
  async function redisOutage(guarantee: 'at-least-once' | 'exactly-once') {
    const topics = await createPipelineTopics(`cache-outage-${guarantee}`, 3);
    topicsToDelete.push(topics);
    // A Redis of its own: the stack's may be the host's (systemd), which a test must not stop.
    const server = await PrivateRedis.start();
    servers.push(server);
    const worker = await WorkerProcess.start(
      cachedConfig(topics, uniqueName('outage'), { guarantee }, server.url),
    );
    workers.push(worker);
    await worker.waitReady();
    const outageMs = faultScale(3_000, 30_000);
    const events = faultScale(8_000, 75_000);
    const producer = produceInBackground(topics.input, events, 2_000, fraudEvent);
    await sleep(1_500);
    await server.kill();
    assert.equal(await server.answers(), false, 'the Redis is down');
    await sleep(outageMs);
    await server.start();
    assert.equal(await producer.done, events);
    const { predictions, deadLetters } = await readOutputs(topics, events);
    assert.equal(deadLetters.length, 0);
    assert.equal(new Set(predictions.map((r) => sourceOf(r))).size, events, '0 lost');
    assert.equal(worker.child.exitCode, null, 'the worker is still running');
    assert.ok((await worker.metric('inference_cache_errors_total')) > 0, 'the outage was noticed');
    const report = await checkDelivery(topics);
    assert.deepEqual(report.lost, []);
    assert.equal(report.duplicatesDiffering, 0);
    assert.equal(report.orderViolations, 0);
    const mode = guarantee === 'exactly-once' ? 'exactly-once: ' : '';
    recordFaultFigures(`${mode}Redis stopped ${outageMs / 1000} s`, report);
    return { worker, topics, report };
  }

  it('exactly-once: rides out Redis going down under load: one answer per input', async () => {
    const { report } = await redisOutage('exactly-once');
    assert.equal(report.duplicates, 0, 'read_committed: no duplicate at all');
  });

  it('rides out Redis going down under load: nothing lost, no crash, hits resume', async () => {
    const { worker, topics } = await redisOutage('at-least-once');

    // Back up: the same inputs again are answered from the cache.
    const hitsBefore = await worker.metric('inference_cache_lookups_total{result="hit"}');
    await waitFor(
      async () => {
        await produceMessages(
          topics.input,
          Array.from({ length: 50 }, (_, i) => jsonMessage(fraudEvent(i))),
        );
        await sleep(500);
        return (await worker.metric('inference_cache_lookups_total{result="hit"}')) > hitsBefore;
      },
      { timeoutMs: 30_000, message: 'cache hits to resume after Redis returned' },
    );
  });
});
