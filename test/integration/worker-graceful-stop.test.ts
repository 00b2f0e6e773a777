import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { produceInBackground } from '../helpers/background-producer.js';
import {
  committedOffsets,
  readAllMessages,
  waitFor,
  type ReadRecord,
} from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  header,
  readOutputs,
  sourceOf,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { DEFAULT_TRANSPORT_ONLY } from '../helpers/transports.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const PARTITIONS = 4;
const EVENTS = 8_000;

function sources(records: ReadRecord[]): string[] {
  return records.map((r) => sourceOf(r));
}

for (const client of DEFAULT_TRANSPORT_ONLY) {
  describe(`${client}: worker: SIGTERM drains, commits, leaves and exits 0`, () => {
    let topics: PipelineTopics;
    let worker: WorkerProcess | undefined;

    before(async () => {
      await ensureStackUp();
      topics = await createPipelineTopics('graceful', PARTITIONS, client);
    });
    after(async () => {
      if (worker) await worker.kill('SIGKILL');
      await deletePipelineTopics(topics);
    });

    it('stops mid-stream without loss; the restart produces no duplicate and no gap', async () => {
      const config = workerConfigFor(topics, 'models/fraud-mlp/1', {
        model: { debugInferenceDelayMs: 10 },
        batching: { maxBatchSize: 50 },
        delivery: { commitIntervalMs: 5_000 }, // only the drain's final commit can make this pass
      });
      const producer = produceInBackground(topics.input, EVENTS, 2_000, fraudEvent);
      worker = await WorkerProcess.start(config);
      await worker.waitReady();
      await sleep(1_500);

      const stopping = worker.kill('SIGTERM');
      worker.child.kill('SIGTERM'); // a second signal must not break the drain
      const status = await stopping;
      assert.deepEqual(
        status,
        { code: 0, signal: null },
        `exit status; output:\n${worker.output.slice(-2000)}`,
      );
      assert.match(worker.output, /worker stopped/);
      worker = undefined;

      // Everything produced before the stop is committed: committed offset = last output + 1.
      const before = await readAllMessages(topics.output);
      assert.ok(before.length > 0, 'the first worker produced something before it stopped');
      const committed = await committedOffsets(topics.groupId, topics.input);
      for (let p = 0; p < PARTITIONS; p++) {
        const offsets = before
          .filter((r) => header(r, 'source.partition') === String(p))
          .map((r) => Number(header(r, 'source.offset')));
        const expected = offsets.length ? Math.max(...offsets) + 1 : undefined;
        if (expected !== undefined)
          assert.equal(committed[p], expected, `partition ${p} committed through its last output`);
      }

      worker = await WorkerProcess.start(config);
      await worker.waitReady();
      assert.equal(await producer.done, EVENTS);
      const { predictions } = await readOutputs(topics, EVENTS);
      const all = sources(predictions);
      assert.equal(new Set(all).size, EVENTS, 'no gap: every input has a prediction');
      assert.equal(all.length, EVENTS, 'no duplicate after a graceful stop');
    });

    it('a SIGTERM during start-up (joining the group) still ends in a clean exit 0', async () => {
      const early = await WorkerProcess.start(workerConfigFor(topics, 'models/fraud-mlp/1'));
      // The model is warm; the Kafka clients are connecting and joining.
      await waitFor(() => /model version loaded/.test(early.output), {
        timeoutMs: 30_000,
        intervalMs: 5,
      });
      const status = await early.kill('SIGTERM');
      assert.deepEqual(
        status,
        { code: 0, signal: null },
        `exit status; output:\n${early.output.slice(-2000)}`,
      );
      assert.match(early.output, /worker stopped/);
    });
  });
}
