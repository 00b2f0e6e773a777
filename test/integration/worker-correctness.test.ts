import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { ensureSoftwareVulkan } from '../../deploy/local/vulkan.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  header,
  jsonMessage,
  produceMessages,
  readOutputs,
  waitForCommittedToEnd,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { encodeRow, loadReferenceModel } from '../helpers/reference-model.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { TRANSPORTS, type TransportName } from '../helpers/transports.js';
import { WorkerProcess, logLines } from '../helpers/worker-process.js';

const MODEL = 'models/fraud-mlp/1';
const EVENTS = 10_000;

/**
 * Each transport on the CPU, and the WebGPU provider on a software Vulkan device (Mesa's
 * lavapipe; deploy/local/vulkan.ts): the GPU code path, held to the same answers.
 */
const VARIANTS: { client: TransportName; device: 'cpu' | 'webgpu' }[] = [
  ...TRANSPORTS.map((client) => ({ client, device: 'cpu' as const })),
  { client: 'librdkafka', device: 'webgpu' },
];

/** A valid W3C traceparent per event: its trace id encodes the event id. */
function traceparentOf(id: string): string {
  const digits = Buffer.from(id).toString('hex').padStart(32, '0').slice(-32);
  return `00-${digits}-00f067aa0ba902b7-01`;
}

for (const { client, device } of VARIANTS) {
  const name = device === 'cpu' ? client : `${client} on webgpu (software Vulkan)`;
  describe(`${name}: worker: every event gets exactly one correct prediction, in partition order`, () => {
    let topics: PipelineTopics;
    let worker: WorkerProcess;

    before(async () => {
      await ensureStackUp();
      if (device === 'webgpu') ensureSoftwareVulkan();
      topics = await createPipelineTopics('correct', 6, client);
    });
    after(async () => {
      if (worker) await worker.kill('SIGKILL');
      await deletePipelineTopics(topics);
    });

    it('predicts 10,000 events over 6 partitions like the reference, keys kept, offsets committed', async () => {
      const events = Array.from({ length: EVENTS }, (_, i) => fraudEvent(i));
      // Small, uneven batches: the answer must not depend on batch composition.
      worker = await WorkerProcess.start(
        workerConfigFor(topics, MODEL, {
          model: { device },
          batching: { maxBatchSize: 37, maxBatchDelayMs: 3 },
        }),
      );
      await worker.waitReady();
      await produceMessages(
        topics.input,
        events.map((event) => jsonMessage(event, { traceparent: traceparentOf(event.id) })),
      );

      const { predictions, deadLetters } = await readOutputs(topics, EVENTS);
      assert.equal(deadLetters.length, 0, 'no good event is dead-lettered');
      assert.equal(predictions.length, EVENTS, 'one prediction per event, no duplicates');

      const reference = loadReferenceModel(MODEL);
      const byId = new Map(events.map((event) => [event.id, event]));
      const expected = reference.predict(
        events.map((event) => encodeRow(reference.json, event as never)),
      );
      const indexOf = new Map(events.map((event, i) => [event.id, i]));
      const seenSources = new Set<string>();
      for (const record of predictions) {
        const key = record.key!.toString();
        const value = JSON.parse(record.value.toString());
        assert.ok(byId.has(key), `prediction key ${key} is an input key`);
        assert.equal(header(record, 'model.name'), 'fraud-mlp');
        assert.equal(header(record, 'model.version'), '1');
        assert.equal(header(record, 'model.provider'), device);
        const [, traceId, , flags] = traceparentOf(key).split('-');
        assert.match(
          header(record, 'traceparent')!,
          new RegExp(`^00-${traceId}-(?!00f067aa0ba902b7)[0-9a-f]{16}-${flags}$`),
          'the input trace continues: same trace id and flags, a new span',
        );
        assert.equal(value.source.topic, topics.input);
        seenSources.add(`${value.source.partition}@${value.source.offset}`);
        const probabilities = expected[indexOf.get(key)!]!;
        for (const { label, probability } of value.topK) {
          const index = label === 'legit' ? 0 : 1;
          assert.ok(
            Math.abs(probability - probabilities[index]!) < 1e-5,
            `${key} ${label}: ${probability} vs ${probabilities[index]}`,
          );
        }
        assert.equal(value.label, probabilities[0]! >= probabilities[1]! ? 'legit' : 'fraud');
      }
      assert.equal(seenSources.size, EVENTS, 'every input offset has its own prediction');

      // Order: within each output partition, a source partition's offsets only increase.
      const lastOffset = new Map<string, number>();
      for (const record of predictions) {
        const lane = `${record.partition}/${header(record, 'source.partition')}`;
        const offset = Number(header(record, 'source.offset'));
        assert.ok(offset > (lastOffset.get(lane) ?? -1), `order broken in ${lane} at ${offset}`);
        lastOffset.set(lane, offset);
      }

      await waitForCommittedToEnd(topics, 15_000);
      // Logs are JSON, Node's own warnings too (kafkajs's negative timer on Node 24 among them).
      // Not on WebGPU: Dawn, native code, prints its limit warnings straight to stderr.
      const notJson = worker.output
        .split('\n')
        .filter((line) => line.trim() !== '' && logLines(line).length === 0);
      if (device === 'cpu') {
        assert.deepEqual(notJson, [], 'every line the worker writes is a JSON log line');
      }
      if (device === 'webgpu') {
        assert.match(worker.output, /"provider":"webgpu"/, 'the start-up log names the provider');
        assert.equal(
          await worker.metric(
            'inference_model_info{model="fraud-mlp",version="1",provider="webgpu",role="primary"}',
          ),
          1,
        );
      }
    });
  });
}
