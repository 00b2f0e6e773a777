/** Which Kafka client `kafka.client` gets, when librdkafka's native module loads and when not. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { kafkaConnectionSchema } from '../../src/config/worker-config.js';
import { ConfigError } from '../../src/errors.js';
import { createTransport } from '../../src/kafka/create-transport.js';

const missing = () => new Error('Cannot find module librdkafka.node\nRequire stack: ...');

function capture() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) },
  );
  return { logger, lines };
}

const connection = (extra: Record<string, unknown> = {}) =>
  kafkaConnectionSchema.parse({ brokers: ['127.0.0.1:9092'], groupId: 'g', ...extra });

describe('kafka.client', () => {
  test('defaults to librdkafka, and loads it here', () => {
    assert.equal(connection().client, 'librdkafka');
    const { logger } = capture();
    assert.equal(createTransport(connection(), logger).name, 'librdkafka');
  });

  test('librdkafka that cannot load stops start-up naming kafka.client', () => {
    const { logger } = capture();
    assert.throws(
      () => createTransport(connection(), logger, missing),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.key === 'kafka.client' &&
        /cannot load here \(Cannot find module librdkafka\.node\)/.test(error.message),
    );
  });

  test('auto falls back to kafkajs and says what is lost, at error level', () => {
    const { logger, lines } = capture();
    const transport = createTransport(connection({ client: 'auto' }), logger, missing);
    assert.equal(transport.name, 'kafkajs');
    const warning = lines.find((line) => line.level >= 50);
    assert.ok(warning, 'an error-level line');
    assert.match(warning.msg, /FALLING BACK to kafkajs: lz4\/zstd input cannot be read/);
  });

  test('auto refuses groupInstanceId when it would fall back, naming the key', () => {
    const { logger } = capture();
    assert.throws(
      () =>
        createTransport(connection({ client: 'auto', groupInstanceId: 'w-1' }), logger, missing),
      (error: unknown) => error instanceof ConfigError && error.key === 'kafka.groupInstanceId',
    );
    assert.equal(
      createTransport(connection({ client: 'auto', groupInstanceId: 'w-1' }), logger).name,
      'librdkafka',
      'with librdkafka loadable, static membership is fine',
    );
  });
});
