import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Message } from 'kafkajs';
import { SCHEMA_REGISTRY_URL, schemaRegistry } from '../../deploy/local/registry.js';
import { ensureStackUp } from '../../deploy/local/stack.js';
import {
  TRANSACTION_SCHEMA_PATH,
  registerSchema,
  testRegistry,
  transactionSchemaV1,
  transactionSchemaV2,
} from '../helpers/avro-fixture.js';
import { readAllMessages } from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  header,
  produceMessages,
  readOutputs,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { encodeRow, loadReferenceModel } from '../helpers/reference-model.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { runPythonPeer } from '../helpers/python-peer.js';
import { checkDelivery } from '../helpers/delivery-check.js';
import { faultScale, recordFaultFigures } from '../helpers/fault-figures.js';
import { WorkerProcess } from '../helpers/worker-process.js';
import { KAFKA_BOOTSTRAP } from '../../deploy/local/kafka.js';

const MODEL = 'models/fraud-mlp/1';
const registry = testRegistry();
const reference = loadReferenceModel(MODEL);

function avroWorkerConfig(topics: PipelineTopics) {
  return workerConfigFor(topics, MODEL, {
    kafka: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
    codec: { input: 'avro', readerSchema: TRANSACTION_SCHEMA_PATH, output: 'avro' },
    schemaRegistry: { url: SCHEMA_REGISTRY_URL, retryBackoffMs: 200 },
  });
}

/** The reference's fraud probability for an event as the reader schema sees it. */
function expectedFraudProbability(event: Record<string, unknown>): number {
  return reference.predict([encodeRow(reference.json, event as never)])[0]![1]!;
}

describe('Avro with the schema registry: in, out, evolution, bad bytes, registry outage', () => {
  let topics: PipelineTopics;
  let worker: WorkerProcess | undefined;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('avro', 3);
  });
  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    await schemaRegistry.start(); // in case the outage test failed half-way
    await deletePipelineTopics(topics);
  });

  it('predicts v1 and v2 events of one subject, dead-letters bad bytes, writes Avro predictions', async () => {
    const subject = `${topics.input}-value`;
    const v1 = await registerSchema(registry, subject, transactionSchemaV1());
    const v2 = await registerSchema(registry, subject, transactionSchemaV2());
    assert.notEqual(v1, v2);

    const messages: Message[] = [];
    const expected = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const event: Record<string, unknown> = { ...fraudEvent(i) };
      if (i % 2 === 0) {
        messages.push({ key: event.id as string, value: await registry.encode(v1, event) });
      } else {
        delete event.email_age_days; // v2 has no such field: the model's default applies
        messages.push({
          key: event.id as string,
          value: await registry.encode(v2, { ...event, device_fingerprint: 'abc' }),
        });
      }
      expected.set(event.id as string, expectedFraudProbability(event));
    }
    const goodBody = (await registry.encode(v1, fraudEvent(999))).subarray(5);
    const unknownId = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x00]), goodBody]);
    const bad: [string, Buffer, RegExp][] = [
      ['too-short', Buffer.from([0, 0, 0]), /too short/],
      [
        'wrong-magic',
        Buffer.concat([Buffer.from([1, 0, 0, 0, v1]), goodBody]),
        /wrong magic byte 1/,
      ],
      [
        'corrupt-body',
        Buffer.concat([Buffer.from([0, 0, 0, 0, v1]), goodBody.subarray(0, 7)]),
        /corrupt Avro body/,
      ],
      ['unknown-id', unknownId, /schema id 2147483392 is unknown/],
    ];
    bad.forEach(([key, value], k) => messages.splice(50 + k * 90, 0, { key, value }));

    worker = await WorkerProcess.start(avroWorkerConfig(topics));
    await worker.waitReady();
    await produceMessages(topics.input, messages, 50);
    const { predictions, deadLetters } = await readOutputs(topics, messages.length);

    assert.equal(deadLetters.length, bad.length);
    for (const [key, value, reason] of bad) {
      const letter = deadLetters.find((record) => record.key?.toString() === key);
      assert.ok(letter, `${key} is dead-lettered`);
      assert.ok(letter.value.equals(value), `${key}: original bytes kept`);
      assert.equal(header(letter, 'dlq.error.stage'), 'decode');
      assert.match(header(letter, 'dlq.error.message') ?? '', reason);
    }

    assert.equal(predictions.length, expected.size);
    const outputId = await registry.getLatestSchemaId(`${topics.output}-value`);
    for (const record of predictions) {
      assert.equal(record.value[0], 0, 'magic byte');
      assert.equal(record.value.readInt32BE(1), outputId, 'registered output schema id');
      const prediction = (await registry.decode(record.value)) as {
        label: string;
        topK: { label: string; probability: number }[];
      };
      const fraud = prediction.topK.find((entry) => entry.label === 'fraud')!.probability;
      const want = expected.get(record.key!.toString())!;
      assert.ok(Math.abs(fraud - want) < 1e-5, `${record.key}: ${fraud} vs ${want}`);
    }

    // A client not written here decodes the same output: Confluent's Python client.
    const decoded = runPythonPeer(
      'avro_tail.py',
      [KAFKA_BOOTSTRAP, topics.output, SCHEMA_REGISTRY_URL, String(predictions.length), '60'],
      300_000,
    )
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            key: string;
            value: {
              label: string;
              topK: { label: string; probability: number }[];
              modelVersion: string;
            };
          },
      );
    assert.equal(decoded.length, predictions.length);
    for (const { key, value } of decoded) {
      const fraud = value.topK.find((entry) => entry.label === 'fraud')!.probability;
      assert.ok(Math.abs(fraud - expected.get(key)!) < 1e-5, `confluent-kafka reads ${key}`);
      assert.equal(value.modelVersion, '1');
    }
  });

  it('waits out a registry outage: no dead letters for good events, everything predicted after', async () => {
    // A schema the worker has not seen yet, so decoding needs the registry during the outage.
    const v3Schema = {
      ...transactionSchemaV1(),
      fields: [...transactionSchemaV1().fields, { name: 'note', type: 'string', default: '' }],
    };
    const v3 = await registerSchema(registry, `${topics.input}-value`, v3Schema);
    const outageMs = faultScale(4_000, 30_000);
    const deadLettersBefore = (await readAllMessages(topics.deadLetter)).length;
    const predictionsBefore = (await readAllMessages(topics.output)).length;
    const messages: Message[] = [];
    for (let i = 1_000; i < 1_300; i++) {
      messages.push({
        key: `v3-${i}`,
        value: await registry.encode(v3, { ...fraudEvent(i), note: 'outage' }),
      });
    }

    await schemaRegistry.stop();
    try {
      await produceMessages(topics.input, messages, 50);
      await sleep(outageMs);
      assert.equal(
        (await readAllMessages(topics.deadLetter)).length,
        deadLettersBefore,
        'nothing dead-lettered while the registry is down',
      );
      assert.equal(
        (await readAllMessages(topics.output)).length,
        predictionsBefore,
        'nothing predicted past the undecodable events',
      );
      assert.ok(
        (await worker!.metric('inference_decode_retries_total')) > 0,
        'decoding was retried',
      );
    } finally {
      await schemaRegistry.start();
    }
    const { predictions, deadLetters } = await readOutputs(
      topics,
      predictionsBefore + deadLettersBefore + messages.length,
    );
    assert.equal(deadLetters.length, deadLettersBefore);
    assert.equal(
      predictions.filter((record) => record.key!.toString().startsWith('v3-')).length,
      messages.length,
    );
    const report = await checkDelivery(topics);
    assert.deepEqual(report.lost, []);
    assert.equal(report.duplicates, 0);
    assert.equal(report.orderViolations, 0);
    recordFaultFigures(`schema registry stopped ${outageMs / 1000} s`, report);
  });

  it('a worker started while the registry is down waits for it instead of exiting', async () => {
    const late = await createPipelineTopics('avro-late', 1);
    await schemaRegistry.stop();
    let waiting: WorkerProcess | undefined;
    try {
      waiting = await WorkerProcess.start(avroWorkerConfig(late));
      await sleep(4_000);
      assert.equal(waiting.child.exitCode, null, 'still running while the registry is down');
      assert.match(waiting.output, /waiting to register the output schema/);
      await schemaRegistry.start();
      await waiting.waitReady();
      const id = await registerSchema(registry, `${late.input}-value`, transactionSchemaV1());
      const events = Array.from({ length: 20 }, (_, i) => fraudEvent(2_000 + i));
      await produceMessages(
        late.input,
        await Promise.all(
          events.map(async (event) => ({ key: event.id, value: await registry.encode(id, event) })),
        ),
      );
      const { predictions } = await readOutputs(late, events.length);
      assert.equal(predictions.length, events.length);
    } finally {
      await schemaRegistry.start();
      waiting?.child.kill('SIGKILL');
      await deletePipelineTopics(late);
    }
  });
});
