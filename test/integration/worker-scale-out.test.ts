import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { produceInBackground } from '../helpers/background-producer.js';
import type { ReadRecord } from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  readOutputs,
  sourceOf,
  waitForCommittedToEnd,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const EVENTS = 12_000;

for (const client of TRANSPORTS) {
  describe(`${client}: worker: scaling out and in rebalances partitions without loss`, () => {
    let topics: PipelineTopics;
    const workers: WorkerProcess[] = [];

    before(async () => {
      await ensureStackUp();
      topics = await createPipelineTopics('scale', 6, client);
    });
    after(async () => {
      for (const worker of workers) worker.child.kill('SIGKILL');
      await deletePipelineTopics(topics);
    });

    it('a second worker joins mid-stream, the first leaves; every event predicted, duplicates identical', async () => {
      const config = workerConfigFor(topics, 'models/fraud-mlp/1', {
        kafka: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
        model: { debugInferenceDelayMs: 5 },
        batching: { maxBatchSize: 64 },
      });
      const producer = produceInBackground(topics.input, EVENTS, 2_000, fraudEvent);
      const first = await WorkerProcess.start(config);
      workers.push(first);
      await first.waitReady();
      await sleep(1_500);

      const second = await WorkerProcess.start(config);
      workers.push(second);
      await second.waitReady();
      await sleep(2_000);
      assert.ok(
        (await first.metric('inference_group_joins_total')) >= 2,
        'the first worker rejoined',
      );
      const firstShare = await first.metric('inference_predictions_produced_total');

      // Scale in: the first worker leaves gracefully; its partitions move to the second.
      assert.deepEqual(await first.kill('SIGTERM'), { code: 0, signal: null });
      assert.equal(await producer.done, EVENTS);
      const { predictions, deadLetters } = await readOutputs(topics, EVENTS, 180_000);
      await waitForCommittedToEnd(topics, 60_000);
      assert.equal(deadLetters.length, 0);
      assert.ok(firstShare > 0, 'the first worker predicted before it left');
      assert.ok(
        (await second.metric('inference_predictions_produced_total')) > 0,
        'the second took a share',
      );

      const bySource = new Map<string, ReadRecord[]>();
      for (const record of predictions)
        bySource.set(sourceOf(record), [...(bySource.get(sourceOf(record)) ?? []), record]);
      assert.equal(bySource.size, EVENTS, 'every input offset has a prediction');
      let duplicates = 0;
      for (const [source, records] of bySource) {
        const answers = new Set(
          records.map((r) => JSON.stringify(JSON.parse(r.value.toString()).topK)),
        );
        assert.equal(answers.size, 1, `${source}: every copy carries the same prediction`);
        duplicates += records.length - 1;
      }
      process.stdout.write(`# scale out/in: ${duplicates} duplicates across two rebalances\n`);
    });
  });
}
