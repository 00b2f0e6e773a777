import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Message } from 'kafkajs';
import { ensureStackUp } from '../../deploy/local/stack.js';
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
import { DEFAULT_TRANSPORT_ONLY } from '../helpers/transports.js';
import { createTopic, deleteTopics } from '../helpers/kafka-test-helpers.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { checkDelivery } from '../helpers/delivery-check.js';
import { recordFaultFigures } from '../helpers/fault-figures.js';
import { WorkerProcess } from '../helpers/worker-process.js';

/** Bad events by kind: the raw value, the stage that must reject it and a word of the reason. */
const BAD_KINDS: { value: string; stage: string; reason: RegExp }[] = [
  { value: '{"id": "bad", "amount": 12.5,', stage: 'decode', reason: /malformed JSON/ },
  { value: '[1, 2, 3]', stage: 'decode', reason: /expected a JSON object/ },
  {
    value: JSON.stringify({ ...fraudEvent(1), amount: undefined }),
    stage: 'featurize',
    reason: /"amount" is required/,
  },
  {
    value: JSON.stringify({ ...fraudEvent(2), hour_of_day: 'noon' }),
    stage: 'featurize',
    reason: /"hour_of_day" expected a number/,
  },
  {
    value: '{"id":"nan","amount":NaN,"hour_of_day":1,"account_age_days":3}',
    stage: 'decode',
    reason: /malformed JSON/,
  },
  {
    value: JSON.stringify({ ...fraudEvent(3), amount: 'NaN' }),
    stage: 'featurize',
    reason: /"amount" expected a number/,
  },
  {
    value: JSON.stringify({ ...fraudEvent(4), is_foreign: 'yes' }),
    stage: 'featurize',
    reason: /"is_foreign" expected a boolean/,
  },
  {
    value: JSON.stringify({ ...fraudEvent(5), channel: 'fax' }),
    stage: 'featurize',
    reason: /"fax" is not one of/,
  },
  {
    // A valid event, but bigger than the limit the worker runs with below: refused undecoded.
    value: JSON.stringify({ ...fraudEvent(6), note: 'x'.repeat(5_000) }),
    stage: 'size',
    reason: /value of \d+ bytes is over limits.maxEventBytes \(4096\)/,
  },
];

for (const client of DEFAULT_TRANSPORT_ONLY) {
  describe(`${client}: worker: bad input goes to the dead-letter topic and never stalls a partition`, () => {
    let topics: PipelineTopics;
    let worker: WorkerProcess;

    before(async () => {
      await ensureStackUp();
      topics = await createPipelineTopics('bad-input', 3, client);
    });
    after(async () => {
      if (worker) await worker.kill('SIGKILL');
      await deletePipelineTopics(topics);
    });

    it('dead-letters each bad event with its reason and original bytes, predicts every good one', async () => {
      const messages: Message[] = [];
      const badKeys = new Map<string, (typeof BAD_KINDS)[number]>();
      for (let i = 0; i < 600; i++) {
        if (i % 25 === 7) {
          const kind = BAD_KINDS[badKeys.size % BAD_KINDS.length]!;
          const key = `bad-${i}`;
          badKeys.set(key, kind);
          messages.push({ key, value: kind.value, headers: { origin: `test-${i}` } });
        } else {
          messages.push(jsonMessage(fraudEvent(i)));
        }
      }
      worker = await WorkerProcess.start(
        workerConfigFor(topics, 'models/fraud-mlp/1', { limits: { maxEventBytes: 4_096 } }),
      );
      await worker.waitReady();
      await produceMessages(topics.input, messages, 100);

      const { predictions, deadLetters } = await readOutputs(topics, messages.length);
      assert.equal(deadLetters.length, badKeys.size);
      assert.equal(predictions.length, messages.length - badKeys.size);
      for (const record of deadLetters) {
        const key = record.key!.toString();
        const kind = badKeys.get(key);
        assert.ok(kind, `dead letter ${key} is one of the bad events`);
        assert.equal(record.value.toString(), kind.value, 'original value kept byte for byte');
        assert.equal(header(record, 'origin'), `test-${key.slice(4)}`, 'original headers kept');
        assert.equal(header(record, 'dlq.error.stage'), kind.stage);
        assert.match(header(record, 'dlq.error.message') ?? '', kind.reason);
        assert.equal(header(record, 'dlq.error.class'), 'PoisonInputError');
        assert.equal(header(record, 'dlq.source.topic'), topics.input);
        assert.match(header(record, 'dlq.source.offset') ?? '', /^\d+$/);
        assert.ok(!Number.isNaN(Date.parse(header(record, 'dlq.timestamp') ?? '')));
      }
      for (const record of predictions) assert.ok(!badKeys.has(record.key!.toString()));

      await waitForCommittedToEnd(topics, 15_000);
      assert.equal(await worker.metric('inference_dead_letters_total'), badKeys.size);
    });
  });
}

for (const client of DEFAULT_TRANSPORT_ONLY) {
  describe(`${client}: worker: a backlog of large poison events into a one-partition DLQ does not stall`, () => {
    let topics: PipelineTopics;
    let worker: WorkerProcess;

    before(async () => {
      await ensureStackUp();
      topics = await createPipelineTopics('big-poison', 3, client); // the DLQ has one partition
    });
    after(async () => {
      if (worker) await worker.kill('SIGKILL');
      await deletePipelineTopics(topics);
    });

    it('dead-letters 3,000 poison events of 3 KB each, sends bounded by bytes, and commits', async () => {
      const events = 3_000;
      const padding = 'x'.repeat(3_000);
      // Decodes, but lacks the required "amount": poison at featurize, its 3 KB value kept.
      const messages: Message[] = Array.from({ length: events }, (_, i) => ({
        key: `big-${i}`,
        value: JSON.stringify({ id: `big-${i}`, hour_of_day: 3, pad: padding }),
      }));
      await produceMessages(topics.input, messages, 100);
      worker = await WorkerProcess.start(workerConfigFor(topics, 'models/fraud-mlp/1'));
      await worker.waitReady();
      const { predictions, deadLetters } = await readOutputs(topics, events, 90_000);
      assert.equal(predictions.length, 0);
      assert.equal(new Set(deadLetters.map((record) => record.key!.toString())).size, events);
      for (const record of deadLetters) {
        assert.equal(header(record, 'dlq.error.stage'), 'featurize');
        assert.ok(record.value.length > 3_000, 'the original value is kept');
      }
      await waitForCommittedToEnd(topics, 30_000);
      assert.equal(await worker.metric('inference_produce_retries_total'), 0, 'nothing refused');
      const report = await checkDelivery(topics);
      assert.deepEqual(report.lost, []);
      assert.equal(report.orderViolations, 0);
      recordFaultFigures(`${client}: large poison backlog into a one-partition DLQ`, report);
    });
  });
}

describe('librdkafka: worker: an output too large for the broker is dead-lettered trimmed, not retried', () => {
  let topics: PipelineTopics;
  let worker: WorkerProcess;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('too-large', 2, 'librdkafka');
    // The input takes a 1.2 MB record; the dead-letter topic keeps the broker's 1 MB default.
    await deleteTopics([topics.input]);
    await createTopic(topics.input, 2, { 'max.message.bytes': String(4 * 1024 * 1024) });
  });
  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    await deletePipelineTopics(topics);
  });

  it('keeps the head of the value, its size and sha256; every other event goes through', async () => {
    const huge = JSON.stringify({ id: 'huge', hour_of_day: 3, pad: 'y'.repeat(1_200_000) });
    const messages: Message[] = [
      ...Array.from({ length: 50 }, (_, i) => jsonMessage(fraudEvent(i))),
      { key: 'huge', value: huge },
      ...Array.from({ length: 50 }, (_, i) => jsonMessage(fraudEvent(50 + i))),
    ];
    await produceMessages(topics.input, messages, 1);
    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', { limits: { maxEventBytes: 2_000_000 } }),
    );
    await worker.waitReady();
    const { predictions, deadLetters } = await readOutputs(topics, messages.length, 60_000);
    assert.equal(predictions.length, 100);
    assert.equal(deadLetters.length, 1);
    const [letter] = deadLetters;
    assert.equal(letter!.key!.toString(), 'huge');
    assert.equal(header(letter!, 'dlq.error.stage'), 'produce');
    assert.equal(header(letter!, 'dlq.error.class'), 'OutputTooLargeError');
    assert.equal(header(letter!, 'dlq.original.size'), String(Buffer.byteLength(huge)));
    assert.equal(
      header(letter!, 'dlq.original.sha256'),
      createHash('sha256').update(huge).digest('hex'),
    );
    assert.equal(letter!.value.toString(), huge.slice(0, 64 * 1024), 'the head of the value');
    await waitForCommittedToEnd(topics, 30_000);
  });
});
