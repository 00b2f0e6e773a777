import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { produceInBackground } from '../helpers/background-producer.js';
import { checkDelivery } from '../helpers/delivery-check.js';
import { faultScale, recordFaultFigures } from '../helpers/fault-figures.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  waitForCommittedToEnd,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const PARTITIONS = 12;
const EVENTS = faultScale(16_000, 60_000);
const RATE = faultScale(1_000, 2_000);

/**
 * The default client at least once and exactly once (where a duplicate is a failure). kafkajs's
 * rebalances are proven by its kill -9 cycles (worker-crash) and its correctness run.
 */
const RUNS = [
  { client: 'librdkafka' as const, exactlyOnce: false },
  { client: 'librdkafka' as const, exactlyOnce: true },
];

for (const { client, exactlyOnce } of RUNS) {
  const name = exactlyOnce ? `${client}, exactly-once` : client;
  describe(`${name}: worker: scaling 1 → 3 → 1 rebalances partitions without loss`, () => {
    let topics: PipelineTopics;
    const workers: WorkerProcess[] = [];

    before(async () => {
      await ensureStackUp();
      topics = await createPipelineTopics('scale', PARTITIONS, client);
    });
    after(async () => {
      for (const worker of workers) worker.child.kill('SIGKILL');
      await deletePipelineTopics(topics);
    });

    it('two workers join mid-stream, one leaves by SIGTERM, one by SIGKILL; none lost, duplicates identical', async () => {
      const config = workerConfigFor(topics, 'models/fraud-mlp/1', {
        kafka: { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 },
        model: { debugInferenceDelayMs: 5 },
        batching: { maxBatchSize: 64 },
        ...(exactlyOnce ? { delivery: { guarantee: 'exactly-once' } } : {}),
      });
      const producer = produceInBackground(topics.input, EVENTS, RATE, fraudEvent);
      const start = async () => {
        const worker = await WorkerProcess.start(config);
        workers.push(worker);
        await worker.waitReady();
        return worker;
      };
      const first = await start();
      await sleep(1_500);
      const second = await start();
      const third = await start();
      await sleep(2_000);
      assert.ok(
        (await first.metric('inference_group_joins_total')) >= 2,
        'the first worker rejoined',
      );

      // Scale in: one leaves gracefully, one dies; their partitions move to the first.
      assert.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null });
      await sleep(1_000);
      assert.equal((await third.kill('SIGKILL')).signal, 'SIGKILL');
      assert.equal(await producer.done, EVENTS);
      const report = await checkDelivery(topics, { timeoutMs: 180_000 });
      await waitForCommittedToEnd(topics, 60_000);
      assert.deepEqual(report.lost, [], 'every input offset has a prediction');
      assert.equal(report.deadLettered, 0);
      assert.equal(report.duplicatesDiffering, 0, 'every copy carries the same prediction');
      assert.equal(report.orderViolations, 0);
      if (exactlyOnce) assert.equal(report.duplicates, 0, 'read_committed: no duplicate at all');
      recordFaultFigures(`${name}: ${PARTITIONS} partitions scaled 1 → 3 → 1`, report);
    });
  });
}
