/**
 * Fault suite, hostile input: Avro events of every broken kind, interleaved with good ones.
 * Each hostile event is dead-lettered with its reason, each good one predicted, none lost, none
 * doubled, order kept, and the worker never stops.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Message } from 'kafkajs';
import { SCHEMA_REGISTRY_URL } from '../../deploy/local/registry.js';
import { ensureStackUp } from '../../deploy/local/stack.js';
import {
  TRANSACTION_SCHEMA_PATH,
  registerSchema,
  testRegistry,
  transactionSchemaV1,
} from '../helpers/avro-fixture.js';
import { checkDelivery, describeReport } from '../helpers/delivery-check.js';
import { faultScale, recordFaultFigures } from '../helpers/fault-figures.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  produceMessages,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent, mulberry32 } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const MAX_EVENT_BYTES = 8_192;
const registry = testRegistry();

interface HostileKind {
  name: string;
  reason: string;
  make: (i: number, random: () => number) => Buffer | null;
}

describe('fault suite: hostile payloads interleaved with good ones', () => {
  let topics: PipelineTopics;
  let worker: WorkerProcess | undefined;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('fault-hostile', 4);
  });
  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    await deletePipelineTopics(topics);
  });

  it('dead-letters every hostile event with its reason and predicts every good one', async () => {
    const v1 = transactionSchemaV1();
    const good = await registerSchema(registry, `${topics.input}-value`, v1);
    // Writers the reader schema cannot resolve, and one with an extra field to make events big.
    const other = `${topics.input}-hostile-value`;
    const withType = (name: string, type: unknown) =>
      v1.fields.map((field) => (field.name === name ? { ...field, type } : field));
    const stringAmount = await registerSchema(registry, other, {
      ...v1,
      fields: withType('amount', 'string'),
    });
    const noAmount = await registerSchema(registry, `${other}-2`, {
      ...v1,
      fields: v1.fields.filter((field) => field.name !== 'amount'),
    });
    const withNote = await registerSchema(registry, `${other}-3`, {
      ...v1,
      fields: [...v1.fields, { name: 'note', type: 'string' }],
    });
    const encode = (id: number, event: object) => registry.encode(id, event) as Promise<Buffer>;
    const goodBody = (await encode(good, fraudEvent(0))).subarray(5);
    const header = (magic: number, id: number) => {
      const bytes = Buffer.alloc(5);
      bytes[0] = magic;
      bytes.writeInt32BE(id, 1);
      return bytes;
    };
    const randomBytes = (random: () => number, length: number) =>
      Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
    // Encoded ahead: registry.encode is async, the kinds below are not.
    const encoded = {
      stringAmount: await encode(stringAmount, { ...fraudEvent(1), amount: 'twelve' }),
      noAmount: await encode(noAmount, fraudEvent(2)),
      nan: await encode(good, { ...fraudEvent(3), amount: Number.NaN }),
      infinity: await encode(good, { ...fraudEvent(4), hour_of_day: Number.POSITIVE_INFINITY }),
      above: await encode(withNote, { ...fraudEvent(5), note: 'x'.repeat(MAX_EVENT_BYTES) }),
    };
    const kinds: HostileKind[] = [
      {
        name: 'random bytes',
        reason: 'malformed',
        make: (_, random) =>
          Buffer.concat([Buffer.from([1 + Math.floor(random() * 255)]), randomBytes(random, 40)]),
      },
      {
        name: 'random body, unknown schema id',
        reason: 'unknown-schema',
        make: (i, random) => Buffer.concat([header(0, 0x7f000000 + i), randomBytes(random, 30)]),
      },
      {
        name: 'truncated Avro',
        reason: 'malformed',
        make: (_, random) =>
          Buffer.concat([
            header(0, good),
            goodBody.subarray(0, 1 + Math.floor(random() * (goodBody.length - 2))),
          ]),
      },
      {
        name: 'wrong magic',
        reason: 'malformed',
        make: () => Buffer.concat([header(2, good), goodBody]),
      },
      { name: 'too short', reason: 'malformed', make: () => Buffer.from([0, 0, 1]) },
      { name: 'wrong field type', reason: 'malformed', make: () => encoded.stringAmount },
      { name: 'missing required field', reason: 'malformed', make: () => encoded.noAmount },
      { name: 'NaN', reason: 'invalid-feature', make: () => encoded.nan },
      { name: 'Infinity', reason: 'invalid-feature', make: () => encoded.infinity },
      { name: 'above maxEventBytes', reason: 'too-large', make: () => encoded.above },
      { name: 'empty value', reason: 'empty', make: () => Buffer.alloc(0) },
      { name: 'null tombstone', reason: 'empty', make: () => null },
    ];

    const hostileCount = faultScale(1_200, 10_000);
    const random = mulberry32(7);
    const messages: Message[] = [];
    const expectedReasons: Record<string, number> = {};
    let goodCount = 0;
    for (let i = 0; i < hostileCount; i++) {
      const kind = kinds[i % kinds.length]!;
      messages.push({ key: `hostile-${i}`, value: kind.make(i, random) });
      expectedReasons[kind.reason] = (expectedReasons[kind.reason] ?? 0) + 1;
      // A good event after each hostile one; every tenth is just under the size limit.
      const event = fraudEvent(i);
      const value =
        i % 10 === 0
          ? await encode(withNote, { ...event, note: 'y'.repeat(MAX_EVENT_BYTES - 400) })
          : await encode(good, event);
      assert.ok(value.length <= MAX_EVENT_BYTES);
      messages.push({ key: event.id, value });
      goodCount++;
    }

    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', {
        codec: { input: 'avro', readerSchema: TRANSACTION_SCHEMA_PATH, output: 'json' },
        schemaRegistry: { url: SCHEMA_REGISTRY_URL },
        limits: { maxEventBytes: MAX_EVENT_BYTES },
      }),
    );
    await worker.waitReady();
    await produceMessages(topics.input, messages, 500);
    const report = await checkDelivery(topics);
    process.stdout.write(describeReport('hostile payloads', report));
    assert.deepEqual(report.lost, [], 'none lost');
    assert.equal(report.predicted, goodCount, 'every good event predicted');
    assert.deepEqual(report.deadLettersByReason, expectedReasons, 'each hostile event, its reason');
    assert.equal(report.duplicates, 0);
    assert.equal(report.orderViolations, 0);
    assert.equal(worker.child.exitCode, null, 'the worker is still running');
    recordFaultFigures('hostile payloads', report, { hostile: hostileCount, good: goodCount });
  });
});
