/**
 * The librdkafka producer's failures by class, on a fake binding: a fatal error (librdkafka's
 * isFatal, e.g. an idempotent producer that lost its sequence) is fatal for the policy, never
 * retried; after a fatal event.error every send fails the same way at once.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { validateConfig } from '../../src/config/load-config.js';
import { classifyFailure } from '../../src/error-policy.js';
import { ProduceFailedError } from '../../src/errors.js';
import { RD, type RdKafkaError, type RdKafkaModule } from '../../src/kafka/librdkafka-binding.js';
import { LibrdkafkaTransport, produceFailure } from '../../src/kafka/librdkafka-transport.js';
import { createLogger } from '../../src/observability/logger.js';

function rdError(code: number, message: string, isFatal = false): RdKafkaError {
  return Object.assign(new Error(message), { code, isFatal });
}

/** A Producer that acknowledges each record with `nextReport` (null: delivered). */
class FakeProducer extends EventEmitter {
  nextReport: RdKafkaError | null = null;
  produced = 0;
  produce(...args: unknown[]): void {
    this.produced++;
    const opaque = args[5];
    queueMicrotask(() => this.emit('delivery-report', this.nextReport, { opaque }));
  }
  setPollInBackground(): void {}
  isConnected(): boolean {
    return true;
  }
}

function producerOnFake(): { fake: FakeProducer; send: (n: number) => Promise<void> } {
  let fake!: FakeProducer;
  const rdkafka = {
    Producer: class {
      constructor() {
        fake = new FakeProducer();
        return fake;
      }
    },
  } as unknown as RdKafkaModule;
  const { kafka } = validateConfig({
    kafka: { inputTopics: ['in'], outputTopic: 'out', deadLetterTopic: 'dlq', groupId: 'g' },
    model: { path: 'models/fraud-mlp/1' },
  });
  const producer = new LibrdkafkaTransport(rdkafka, kafka, createLogger('silent')).producer();
  const record = { topic: 'out', key: null, value: 'v', headers: {} };
  return { fake, send: (n) => producer.send(Array.from({ length: n }, () => record)) };
}

describe('librdkafka producer failures', () => {
  const cases: [string, RdKafkaError, string, string][] = [
    ['a timed-out send', rdError(-192, 'Local: Message timed out'), 'transient', 'retriable'],
    ['a fatal error', rdError(RD.FATAL, 'Fatal: sequence lost', true), 'fatal', 'fatal'],
    [
      'a fatal error with a retriable-looking code',
      rdError(RD.UNKNOWN_TOPIC_OR_PART, 'fatal', true),
      'fatal',
      'fatal',
    ],
    [
      'a refused write',
      rdError(RD.TOPIC_AUTHORIZATION_FAILED, 'denied', true),
      'authorization',
      'fatal',
    ],
    ['a record too large', rdError(RD.MSG_SIZE_TOO_LARGE, 'too large'), 'too-large', 'poison'],
  ];
  for (const [name, error, reason, failureClass] of cases) {
    test(`${name}: reason ${reason}, class ${failureClass}`, () => {
      const failure = produceFailure(error);
      assert.equal(failure.reason, reason);
      assert.equal(classifyFailure(failure), failureClass);
    });
  }

  test('a fatal delivery report fails the send as fatal', async () => {
    const { fake, send } = producerOnFake();
    await send(2);
    fake.nextReport = rdError(RD.FATAL, 'Fatal: idempotent producer', true);
    await assert.rejects(
      send(3),
      (error) => error instanceof ProduceFailedError && classifyFailure(error) === 'fatal',
    );
  });

  test('after a fatal event.error, every send fails at once without producing', async () => {
    const { fake, send } = producerOnFake();
    fake.emit('event.error', rdError(RD.FATAL, 'Fatal: producer fenced', true));
    const before = fake.produced;
    for (let i = 0; i < 2; i++) {
      await assert.rejects(send(1), (error) => {
        assert.ok(error instanceof ProduceFailedError);
        assert.equal(error.reason, 'fatal');
        assert.match(error.message, /producer fenced/);
        return true;
      });
    }
    assert.equal(fake.produced, before, 'nothing handed to a dead producer');
  });

  test('a non-fatal event.error changes nothing', async () => {
    const { fake, send } = producerOnFake();
    fake.emit('event.error', rdError(-195, 'Local: Broker transport failure'));
    await send(2);
    assert.equal(fake.produced, 2);
  });
});
