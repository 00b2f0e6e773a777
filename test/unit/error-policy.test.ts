/**
 * The one error policy's table: each failure the worker can meet gets exactly one class, and
 * the exit code of a fatal stop says whether a restart can help.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyFailure, exitCodeFor } from '../../src/error-policy.js';
import {
  CommitFailedError,
  ConfigError,
  InferenceError,
  KafkaFatalError,
  ModelFaultError,
  ModelLoadError,
  OutputTooLargeError,
  PoisonInputError,
  ProduceFailedError,
  RetriableError,
} from '../../src/errors.js';

describe('error policy', () => {
  const cases: [string, unknown, string][] = [
    ['bad bytes', new PoisonInputError('decode', 'malformed JSON'), 'poison'],
    ['an output the broker refused', new OutputTooLargeError(9, 'ab', 4, 'too big'), 'poison'],
    ['registry down', new RetriableError('schema registry unavailable'), 'retriable'],
    ['a commit the client did not perform', new CommitFailedError('not a member'), 'retriable'],
    ['broker unavailable', new ProduceFailedError('transient', 'timed out'), 'retriable'],
    [
      'partitions loading after a restart',
      new ProduceFailedError('unknown-topic', 'x'),
      'retriable',
    ],
    ['record too large', new ProduceFailedError('too-large', 'MESSAGE_TOO_LARGE'), 'poison'],
    ['invalid record', new ProduceFailedError('invalid-record', 'INVALID_RECORD'), 'poison'],
    ['no write permission', new ProduceFailedError('authorization', 'denied'), 'fatal'],
    ['a model fault', new ModelFaultError('2', 32, 'fails on every row'), 'model-fault'],
    ['a session error', new InferenceError('Gather: out of bounds'), 'model-fault'],
    ['bad config', new ConfigError('kafka.brokers', 'expected host:port'), 'fatal'],
    ['a model that cannot load', new ModelLoadError('no model.onnx'), 'fatal'],
    ['refused credentials', new KafkaFatalError('SASL authentication failed'), 'fatal'],
    ['a bug', new TypeError('cannot read properties of undefined'), 'fatal'],
  ];
  for (const [name, error, expected] of cases) {
    test(`${name}: ${expected}`, () => assert.equal(classifyFailure(error), expected));
  }

  test('exit 78 where no restart helps, 1 for the rest', () => {
    assert.equal(exitCodeFor(new ConfigError('model.device', 'unknown')), 78);
    assert.equal(exitCodeFor(new ProduceFailedError('authorization', 'denied')), 78);
    assert.equal(exitCodeFor(new KafkaFatalError('SASL authentication failed')), 78);
    assert.equal(exitCodeFor(new TypeError('bug')), 1);
  });

  test('errors carry where they happened', () => {
    const error = new PoisonInputError('featurize', 'amount is required').at({
      topic: 'in',
      partition: 2,
      offset: '41',
    });
    assert.deepEqual(error.context, { topic: 'in', partition: 2, offset: '41' });
    assert.equal(error.reason, 'invalid-feature');
    assert.equal(new ModelFaultError('3', 1, 'x').context.modelVersion, '3');
  });
});
