import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners } from 'kafkajs';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { ensureSoftwareVulkan } from '../../deploy/local/vulkan.js';
import { produceInBackground } from '../helpers/background-producer.js';
import {
  createTopic,
  readAllMessages,
  testKafka,
  type ReadRecord,
} from '../helpers/kafka-test-helpers.js';
import {
  SuiteTopics,
  header,
  jsonMessage,
  produceMessages,
  readOutputs,
  sourceOf,
  workerConfigFor,
} from '../helpers/pipeline-fixture.js';
import { encodeRow, loadReferenceModel } from '../helpers/reference-model.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const references = {
  '1': loadReferenceModel('models/fraud-mlp/1'),
  '2': loadReferenceModel('models/fraud-mlp/2'),
};
const eventsById = new Map<string, Record<string, unknown>>();

function fraudEventRemembered(i: number) {
  const event = fraudEvent(i);
  eventsById.set(event.id, event as never);
  return event;
}

/** Asserts a prediction record equals what its version's reference model computes. */
function assertMatchesReference(record: ReadRecord, event: Record<string, unknown>): void {
  const version = header(record, 'model.version') as '1' | '2';
  const reference = references[version];
  assert.ok(reference, `known version ${version}`);
  const [legit, fraud] = reference.predict([encodeRow(reference.json, event as never)])[0]!;
  const { topK } = JSON.parse(record.value.toString()) as {
    topK: { label: string; probability: number }[];
  };
  const got = Object.fromEntries(topK.map((entry) => [entry.label, entry.probability]));
  assert.ok(
    Math.abs(got.legit! - legit!) < 1e-5 && Math.abs(got.fraud! - fraud!) < 1e-5,
    `v${version} answer for ${record.key}`,
  );
}

describe('model serving: cross-partition batching, hot swap, canary, shadow', () => {
  const suiteTopics = new SuiteTopics();
  let worker: WorkerProcess | undefined;

  before(async () => {
    await ensureStackUp();
  });
  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    await suiteTopics.deleteAll();
  });

  it('coalesces slow partitions into batches bigger than any one partition supplies', async () => {
    const partitions = 6;
    const topics = await suiteTopics.pipeline('coalesce', partitions);
    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', {
        // One thread, kept busy 150 ms a batch: rows wait for it (an idle thread would take
        // each partition's row at once), and the rows of every partition meet in one batch.
        model: { inferenceThreads: 1, debugInferenceDelayMs: 150 },
        batching: { maxBatchSize: 64, maxBatchDelayMs: 1_000 },
      }),
    );
    await worker.waitReady();
    // Each partition gets one event per 100 ms: alone it could never fill more than one row a batch.
    const producer = testKafka().producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const rounds = 30;
    for (let round = 0; round < rounds; round++) {
      await producer.sendBatch({
        acks: -1,
        topicMessages: [
          {
            topic: topics.input,
            messages: Array.from({ length: partitions }, (_, p) => ({
              ...jsonMessage(fraudEvent(round * partitions + p)),
              partition: p,
            })),
          },
        ],
      });
      await sleep(100);
    }
    await producer.disconnect();
    const { predictions } = await readOutputs(topics, rounds * partitions);
    assert.equal(predictions.length, rounds * partitions);
    const mean =
      (await worker.metric('inference_batch_size_sum')) /
      (await worker.metric('inference_batch_size_count'));
    process.stdout.write(
      `# cross-partition batching: mean batch ${mean.toFixed(2)} rows; one partition supplies ~1 per window\n`,
    );
    assert.ok(mean > 2, `mean batch size ${mean} exceeds what one partition supplies`);
    const last = new Map<string, number>();
    for (const record of predictions) {
      const lane = `${record.partition}/${header(record, 'source.partition')}`;
      const offset = Number(header(record, 'source.offset'));
      assert.ok(offset > (last.get(lane) ?? -1), `order within ${lane}`);
      last.set(lane, offset);
    }
    await worker.kill('SIGKILL');
    worker = undefined;
  });

  // On the CPU, and on the WebGPU provider over a software Vulkan device (deploy/local/vulkan.ts).
  for (const device of ['cpu', 'webgpu'] as const) {
    it(`swaps in a new version under load on ${device}: none lost, none doubled, one switch per partition`, async () => {
      if (device === 'webgpu') ensureSoftwareVulkan();
      const partitions = 4;
      const topics = await suiteTopics.pipeline(`swap-${device}`, partitions);
      const repository = mkdtempSync(join(tmpdir(), 'models-'));
      cpSync('models/fraud-mlp/1', join(repository, 'fraud-mlp', '1'), { recursive: true });
      worker = await WorkerProcess.start(
        workerConfigFor(topics, '', {
          model: {
            path: undefined,
            repository,
            name: 'fraud-mlp',
            version: 'latest',
            watchIntervalMs: 300,
            device,
          },
          batching: { maxBatchSize: 32 },
        }),
      );
      await worker.waitReady();
      const events = 6_000;
      const producer = produceInBackground(topics.input, events, 1_500, fraudEventRemembered);
      await sleep(1_500);
      // Drop version 2 in atomically: copy aside, then rename into place.
      cpSync('models/fraud-mlp/2', join(repository, 'fraud-mlp', '.incoming-2'), {
        recursive: true,
      });
      renameSync(join(repository, 'fraud-mlp', '.incoming-2'), join(repository, 'fraud-mlp', '2'));
      assert.equal(await producer.done, events);
      const { predictions, deadLetters } = await readOutputs(topics, events);
      assert.equal(deadLetters.length, 0);
      assert.equal(
        new Set(predictions.map((record) => sourceOf(record))).size,
        events,
        'none lost',
      );
      assert.equal(predictions.length, events, 'none predicted twice');
      assert.equal(await worker.metric('inference_model_swaps_total'), 1);

      const versionsByPartition = new Map<string, { offset: number; version: string }[]>();
      for (const record of predictions) {
        assertMatchesReference(record, eventsById.get(record.key!.toString())!);
        assert.equal(header(record, 'model.provider'), device);
        const partition = header(record, 'source.partition')!;
        versionsByPartition.set(partition, [
          ...(versionsByPartition.get(partition) ?? []),
          {
            offset: Number(header(record, 'source.offset')),
            version: header(record, 'model.version')!,
          },
        ]);
      }
      let switched = 0;
      for (const [partition, list] of versionsByPartition) {
        const sequence = list.sort((a, b) => a.offset - b.offset).map((entry) => entry.version);
        const changes = sequence.filter(
          (version, i) => i > 0 && version !== sequence[i - 1],
        ).length;
        assert.ok(changes <= 1, `partition ${partition} switched versions ${changes} times`);
        assert.equal(sequence.at(-1), '2', `partition ${partition} ends on version 2`);
        if (changes === 1) switched++;
      }
      assert.ok(switched > 0, 'the swap happened mid-stream');
      assert.match(worker.output, /model version swapped in/);
      await worker.kill('SIGKILL');
      worker = undefined;
    });
  }

  it('runs a canary on webgpu beside a cpu primary, each answering like its reference', async () => {
    ensureSoftwareVulkan();
    const topics = await suiteTopics.pipeline('canary-webgpu', 3);
    worker = await WorkerProcess.start(
      workerConfigFor(topics, '', {
        model: {
          path: undefined,
          repository: 'models',
          name: 'fraud-mlp',
          version: '1',
          device: 'cpu',
          canary: { version: '2', percent: 30, device: 'webgpu' },
        },
        batching: { maxBatchSize: 64 },
      }),
    );
    await worker.waitReady();
    const events = 3_000;
    await produceMessages(
      topics.input,
      Array.from({ length: events }, (_, i) => jsonMessage(fraudEventRemembered(i))),
    );
    const { predictions, deadLetters } = await readOutputs(topics, events);
    assert.equal(deadLetters.length, 0);
    assert.equal(predictions.length, events);
    const providers = new Map<string, Set<string>>();
    for (const record of predictions) {
      assertMatchesReference(record, eventsById.get(record.key!.toString())!);
      const version = header(record, 'model.version')!;
      providers.set(
        version,
        (providers.get(version) ?? new Set()).add(header(record, 'model.provider')!),
      );
    }
    assert.deepEqual([...(providers.get('1') ?? [])], ['cpu'], 'the primary answers on the cpu');
    assert.deepEqual([...(providers.get('2') ?? [])], ['webgpu'], 'the canary answers on webgpu');
    await worker.kill('SIGKILL');
    worker = undefined;
  });

  it('sends a sticky 20% canary share within 3 points; shadow writes one record per input', async () => {
    const topics = await suiteTopics.pipeline('canary', 3);
    worker = await WorkerProcess.start(
      workerConfigFor(topics, '', {
        model: {
          path: undefined,
          repository: 'models',
          name: 'fraud-mlp',
          version: '1',
          canary: { version: '2', percent: 20 },
        },
        batching: { maxBatchSize: 128 },
      }),
    );
    await worker.waitReady();
    const events = 10_000;
    // 2,000 keys, each seen five times: a key must always land on the same version.
    await produceMessages(
      topics.input,
      Array.from({ length: events }, (_, i) => ({
        ...jsonMessage(fraudEvent(i)),
        key: `customer-${i % 2_000}`,
      })),
      2_000,
    );
    const { predictions } = await readOutputs(topics, events);
    assert.equal(predictions.length, events);
    const versionByKey = new Map<string, string>();
    let canary = 0;
    for (const record of predictions) {
      const key = record.key!.toString();
      const version = header(record, 'model.version')!;
      if (version === '2') canary++;
      assert.equal(versionByKey.get(key) ?? version, version, `${key} is sticky`);
      versionByKey.set(key, version);
    }
    const share = (canary / events) * 100;
    process.stdout.write(
      `# canary: ${share.toFixed(2)}% of events on version 2 (configured 20%)\n`,
    );
    assert.ok(Math.abs(share - 20) <= 3, `canary share ${share}% within 20 ± 3`);
    await worker.kill('SIGKILL');

    const shadowTopics = await suiteTopics.pipeline('shadow', 3);
    const shadowTopic = `${shadowTopics.input}-shadow`;
    await createTopic(shadowTopic, 3);
    suiteTopics.track(shadowTopic);
    worker = await WorkerProcess.start(
      workerConfigFor(shadowTopics, '', {
        model: {
          path: undefined,
          repository: 'models',
          name: 'fraud-mlp',
          version: '1',
          shadow: { version: '2', topic: shadowTopic },
        },
      }),
    );
    await worker.waitReady();
    const shadowEvents = 2_000;
    await produceMessages(
      shadowTopics.input,
      Array.from({ length: shadowEvents }, (_, i) => jsonMessage(fraudEventRemembered(i))),
    );
    const primary = await readOutputs(shadowTopics, shadowEvents);
    const shadow = await readAllMessages(shadowTopic, {
      expectedCount: shadowEvents,
      timeoutMs: 60_000,
    });
    assert.equal(primary.predictions.length, shadowEvents);
    assert.equal(shadow.length, shadowEvents, 'one shadow record per input');
    assert.equal(new Set(shadow.map((record) => sourceOf(record))).size, shadowEvents);
    for (const record of primary.predictions) {
      assert.equal(
        header(record, 'model.version'),
        '1',
        'primary output is untouched by the shadow',
      );
      assertMatchesReference(record, eventsById.get(record.key!.toString())!);
    }
    for (const record of shadow) {
      assert.equal(header(record, 'model.version'), '2');
      assertMatchesReference(record, eventsById.get(record.key!.toString())!);
    }
  });
});
