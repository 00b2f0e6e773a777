/**
 * loadConfig: defaults, INFER_* environment overrides, YAML and JSON files, and a ConfigError
 * naming the key path, the bad value and what was expected for every kind of bad input.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { applyEnvOverrides, loadConfig, validateConfig } from '../../src/config/load-config.js';
import { secretsOf } from '../../src/config/config-secrets.js';
import { ConfigError } from '../../src/errors.js';
import { classifyFailure } from '../../src/error-policy.js';
import { PREDICTION_HEADERS } from '../../src/wire-contract.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'load-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let fileCounter = 0;
function writeTemp(name: string, text: string): string {
  const file = path.join(tmp, `${fileCounter++}-${name}`);
  writeFileSync(file, text);
  return file;
}

/** The smallest valid config: only the keys without defaults. */
function minimal(): Record<string, unknown> {
  return {
    kafka: {
      groupId: 'g',
      inputTopics: ['in'],
      outputTopic: 'out',
      deadLetterTopic: 'dlq',
    },
    model: { path: 'models/fraud-mlp/1' },
  };
}

function minimalWith(patch: (config: Record<string, Record<string, unknown>>) => void): unknown {
  const config = minimal() as Record<string, Record<string, unknown>>;
  patch(config);
  return config;
}

/** Asserts that `fn` throws a ConfigError for `key` whose message contains every fragment. */
function assertConfigError(fn: () => unknown, key: string, ...fragments: string[]): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.key, key);
  assert.ok(
    caught.message.startsWith(`config key "${key}": `),
    `message names the key: ${caught.message}`,
  );
  for (const fragment of fragments) {
    assert.ok(
      caught.message.includes(fragment),
      `"${caught.message}" should contain "${fragment}"`,
    );
  }
  assert.equal(classifyFailure(caught), 'fatal');
  return caught;
}

/** Asserts that `actual` has each key of `expected` with a deep-equal value. */
function assertHas(actual: object, expected: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(expected)) {
    assert.deepEqual((actual as Record<string, unknown>)[key], value, `key ${key}`);
  }
}

describe('defaults', () => {
  // Key by key, so that keys added to the schema later do not break these checks.
  test('a minimal config gets every documented default', () => {
    const config = validateConfig(minimal());
    assert.equal(config.kafka.inputTopicPattern, undefined);
    assertHas(config.kafka, {
      brokers: ['127.0.0.1:9092'],
      clientId: 'kafka-inference-worker',
      groupId: 'g',
      inputTopics: ['in'],
      outputTopic: 'out',
      deadLetterTopic: 'dlq',
      fromBeginning: true,
      sessionTimeoutMs: 30_000,
      heartbeatIntervalMs: 3_000,
      fetchMaxWaitMs: 500,
      maxBytesPerPartition: 1_048_576,
    });
    assertHas(config.model, {
      path: 'models/fraud-mlp/1',
      device: 'auto',
      // "auto": one session per available core, at most 4
      inferenceThreads: Math.min(os.availableParallelism(), 4),
      intraOpThreads: 1,
      debugInferenceDelayMs: 0,
    });
    assertHas(config.batching, { maxBatchSize: 64, maxBatchDelayMs: 5 });
    assertHas(config.limits, { maxEventBytes: 1_048_576 });
    assertHas(config.flowControl, {
      maxInFlightPerPartition: 2_000,
      maxInFlightTotal: 10_000,
    });
    assertHas(config.delivery, {
      commitIntervalMs: 200,
      retryBackoffMs: 200,
      maxRetryBackoffMs: 10_000,
    });
    assertHas(config.shutdown, { deadlineMs: 30_000 });
    assertHas(config.observability, { port: 9_464, logLevel: 'info' });
  });

  test('a partial section keeps the defaults of its other keys', () => {
    const config = validateConfig(
      minimalWith((c) => {
        c.batching = { maxBatchSize: 8 };
      }),
    );
    assertHas(config.batching, { maxBatchSize: 8, maxBatchDelayMs: 5 });
  });

  test('no file and no environment: the required keys are reported missing', () => {
    assertConfigError(() => loadConfig(undefined, {}), 'kafka', 'expected object', 'got nothing');
  });
});

describe('environment overrides', () => {
  const file = writeTemp('base.json', JSON.stringify(minimal()));

  test('INFER_BATCHING__MAX_BATCH_SIZE=32 becomes the number 32', () => {
    const config = loadConfig(file, { INFER_BATCHING__MAX_BATCH_SIZE: '32' });
    assert.equal(config.batching.maxBatchSize, 32);
    assert.equal(config.batching.maxBatchDelayMs, 5, 'the sibling default survives');
  });

  test('INFER_KAFKA__BROKERS=a:1,b:2 becomes a list', () => {
    const config = loadConfig(file, { INFER_KAFKA__BROKERS: 'a:1,b:2' });
    assert.deepEqual(config.kafka.brokers, ['a:1', 'b:2']);
  });

  test('a comma list tolerates spaces and empty items', () => {
    const config = loadConfig(file, { INFER_KAFKA__BROKERS: ' a:1 , ,b:2,' });
    assert.deepEqual(config.kafka.brokers, ['a:1', 'b:2']);
  });

  test('kafka.predictionHeaders: none by default, every one by name, a comma list or "" from the environment', () => {
    assert.deepEqual(loadConfig(file, {}).kafka.predictionHeaders, []);
    // Every header the output writes, and only those, is a name the config accepts.
    const all = loadConfig(file, {
      INFER_KAFKA__PREDICTION_HEADERS: Object.values(PREDICTION_HEADERS).join(','),
    });
    assert.deepEqual(all.kafka.predictionHeaders, Object.values(PREDICTION_HEADERS));
    const some = loadConfig(file, {
      INFER_KAFKA__PREDICTION_HEADERS: 'model.version, source.offset',
    });
    assert.deepEqual(some.kafka.predictionHeaders, ['model.version', 'source.offset']);
    assert.deepEqual(
      loadConfig(file, { INFER_KAFKA__PREDICTION_HEADERS: '' }).kafka.predictionHeaders,
      [],
    );
  });

  test('INFER_KAFKA__GROUP_ID overrides the file value, other keys stay', () => {
    const config = loadConfig(file, { INFER_KAFKA__GROUP_ID: 'from-env' });
    assert.equal(config.kafka.groupId, 'from-env');
    assert.deepEqual(config.kafka.inputTopics, ['in']);
    assert.equal(config.kafka.outputTopic, 'out');
  });

  test('multi-word section and key names map to camelCase', () => {
    const config = loadConfig(file, {
      INFER_FLOW_CONTROL__MAX_IN_FLIGHT_TOTAL: '50',
      INFER_FLOW_CONTROL__MAX_IN_FLIGHT_PER_PARTITION: '5',
      INFER_KAFKA__FROM_BEGINNING: 'false',
      INFER_OBSERVABILITY__LOG_LEVEL: 'debug',
      INFER_MODEL__DEVICE: 'cpu',
    });
    assertHas(config.flowControl, { maxInFlightPerPartition: 5, maxInFlightTotal: 50 });
    assert.equal(config.kafka.fromBeginning, false);
    assert.equal(config.observability.logLevel, 'debug');
    assert.equal(config.model.device, 'cpu');
  });

  test('variables without the INFER_ prefix are ignored', () => {
    const config = loadConfig(file, { BATCHING__MAX_BATCH_SIZE: '7', HOME: '/x' });
    assert.equal(config.batching.maxBatchSize, 64);
  });

  test('the environment alone can supply every required key', () => {
    const config = loadConfig(undefined, {
      INFER_KAFKA__GROUP_ID: 'g',
      INFER_KAFKA__INPUT_TOPIC_PATTERN: '^tx\\..*$',
      INFER_KAFKA__OUTPUT_TOPIC: 'o',
      INFER_KAFKA__DEAD_LETTER_TOPIC: 'd',
      INFER_MODEL__PATH: '/m',
    });
    assert.equal(config.kafka.inputTopicPattern, '^tx\\..*$');
    assert.equal(config.kafka.inputTopics, undefined);
    assert.equal(config.model.path, '/m');
  });

  test('applyEnvOverrides does not mutate its input', () => {
    const base = minimal();
    const snapshot = structuredClone(base);
    const merged = applyEnvOverrides(base, { INFER_KAFKA__GROUP_ID: 'x', INFER_NEW__KEY: '1' });
    assert.deepEqual(base, snapshot);
    assert.equal((merged.kafka as Record<string, unknown>).groupId, 'x');
    assert.deepEqual(merged.new, { key: 1 });
  });

  test('a bad environment value names the key, the value and the expectation', () => {
    assertConfigError(
      () => loadConfig(file, { INFER_BATCHING__MAX_BATCH_SIZE: 'abc' }),
      'batching.maxBatchSize',
      'expected number',
      'got "abc"',
    );
    const error = assertConfigError(
      () => loadConfig(file, { INFER_BATCHING__MAX_BATCH_SIZE: 'abc' }),
      'batching.maxBatchSize',
    );
    assert.equal(error.message, 'config key "batching.maxBatchSize": expected number, got "abc"');
  });

  test('a numeric-looking string override of a string key stays a string (INFER_KAFKA__GROUP_ID=12345)', () => {
    const config = loadConfig(file, { INFER_KAFKA__GROUP_ID: '12345' });
    assert.equal(config.kafka.groupId, '12345');
  });
});

describe('files', () => {
  test('YAML file', () => {
    const file = writeTemp(
      'worker.yaml',
      [
        'kafka:',
        '  brokers: [broker-1:9092, broker-2:9092]',
        '  groupId: yaml-group',
        '  inputTopicPattern: "^transactions\\\\..*$"',
        '  outputTopic: predictions',
        '  deadLetterTopic: dead',
        '  sessionTimeoutMs: 10000',
        '  heartbeatIntervalMs: 1000',
        'model:',
        '  path: /models/fraud',
        '  device: cpu',
        '  inferenceThreads: 4',
        'batching:',
        '  maxBatchSize: 128',
        '  maxBatchDelayMs: 2',
        '',
      ].join('\n'),
    );
    const config = loadConfig(file, {});
    assert.deepEqual(config.kafka.brokers, ['broker-1:9092', 'broker-2:9092']);
    assert.equal(config.kafka.groupId, 'yaml-group');
    assert.equal(config.kafka.inputTopicPattern, '^transactions\\..*$');
    assert.ok(new RegExp(config.kafka.inputTopicPattern).test('transactions.eu'));
    assert.equal(config.kafka.sessionTimeoutMs, 10_000);
    assert.equal(config.kafka.heartbeatIntervalMs, 1_000);
    assert.equal(config.model.device, 'cpu');
    assert.equal(config.model.inferenceThreads, 4);
    assertHas(config.batching, { maxBatchSize: 128, maxBatchDelayMs: 2 });
    assert.equal(config.delivery.commitIntervalMs, 200);
  });

  test('JSON file, and the environment wins over it', () => {
    const file = writeTemp(
      'worker.json',
      JSON.stringify(
        minimalWith((c) => {
          c.batching = { maxBatchSize: 16 };
          c.kafka!.groupId = 'json-group';
        }),
      ),
    );
    assert.equal(loadConfig(file, {}).batching.maxBatchSize, 16);
    assert.equal(loadConfig(file, {}).kafka.groupId, 'json-group');
    const overridden = loadConfig(file, { INFER_BATCHING__MAX_BATCH_SIZE: '32' });
    assert.equal(overridden.batching.maxBatchSize, 32);
  });

  test('a bad value in a YAML file is reported with its key path', () => {
    const file = writeTemp(
      'bad.yaml',
      'kafka: {groupId: g, inputTopics: [a], outputTopic: o, deadLetterTopic: d}\n' +
        'model: {path: /m}\nbatching: {maxBatchSize: abc}\n',
    );
    const error = assertConfigError(() => loadConfig(file, {}), 'batching.maxBatchSize');
    assert.equal(error.message, 'config key "batching.maxBatchSize": expected number, got "abc"');
  });

  test('an unreadable file names the path', () => {
    const missing = path.join(tmp, 'does-not-exist.yaml');
    assertConfigError(() => loadConfig(missing, {}), '(file)', 'cannot read', missing);
  });

  test('a directory is not a config file', () => {
    assertConfigError(() => loadConfig(tmp, {}), '(file)', 'cannot read', tmp);
  });

  test('a file holding a list, a scalar or nothing is rejected', () => {
    for (const [name, text] of [
      ['list.yaml', '- a\n- b\n'],
      ['scalar.json', '42'],
      ['empty.yaml', ''],
    ] as const) {
      const file = writeTemp(name, text);
      assertConfigError(() => loadConfig(file, {}), '(file)', file, 'must hold an object');
    }
  });

  test('a file that is not YAML/JSON names the path', () => {
    const file = writeTemp('broken.yaml', 'kafka: [unclosed\n');
    assertConfigError(() => loadConfig(file, {}), '(file)', file, 'not valid YAML/JSON');
  });
});

describe('validation errors name the key, the value and the expectation', () => {
  test('an unknown prediction header name, and a repeated one', () => {
    assertConfigError(
      () => validateConfig(minimalWith((c) => (c.kafka!.predictionHeaders = ['model.verison']))),
      'kafka.predictionHeaders.0',
      'model.version',
    );
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => (c.kafka!.predictionHeaders = ['model.name', 'model.name'])),
        ),
      'kafka.predictionHeaders',
      'expected each header name once',
    );
  });

  test('missing outputTopic', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            delete c.kafka!.outputTopic;
          }),
        ),
      'kafka.outputTopic',
      'expected string',
      'got nothing',
    );
  });

  test('missing groupId', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            delete c.kafka!.groupId;
          }),
        ),
      'kafka.groupId',
      'expected string',
      'got nothing',
    );
  });

  test('missing model section', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            delete c.model;
          }),
        ),
      'model',
      'expected object',
      'got nothing',
    );
  });

  test('both inputTopics and inputTopicPattern', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.kafka!.inputTopicPattern = '^x$';
          }),
        ),
      'kafka.inputTopics',
      'expected exactly one of inputTopics or inputTopicPattern',
      'got ["in"]',
    );
  });

  test('neither inputTopics nor inputTopicPattern', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            delete c.kafka!.inputTopics;
          }),
        ),
      'kafka.inputTopics',
      'expected exactly one of inputTopics or inputTopicPattern',
      'got nothing',
    );
  });

  test('invalid regular expression', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            delete c.kafka!.inputTopics;
            c.kafka!.inputTopicPattern = '([a-z';
          }),
        ),
      'kafka.inputTopicPattern',
      'expected a valid regular expression',
      'got "([a-z"',
    );
  });

  test('unknown device lists the allowed ones', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.model!.device = 'tpu';
          }),
        ),
      'model.device',
      'expected one of auto, cpu, cuda, webgpu',
      'got "tpu"',
    );
  });

  test('heartbeatIntervalMs >= sessionTimeoutMs', () => {
    for (const heartbeat of [10_000, 12_000]) {
      assertConfigError(
        () =>
          validateConfig(
            minimalWith((c) => {
              c.kafka!.sessionTimeoutMs = 10_000;
              c.kafka!.heartbeatIntervalMs = heartbeat;
            }),
          ),
        'kafka.heartbeatIntervalMs',
        'expected heartbeatIntervalMs below sessionTimeoutMs',
        `got ${heartbeat}`,
      );
    }
    // Just below is fine.
    const ok = validateConfig(
      minimalWith((c) => {
        c.kafka!.sessionTimeoutMs = 10_000;
        c.kafka!.heartbeatIntervalMs = 9_999;
      }),
    );
    assert.equal(ok.kafka.heartbeatIntervalMs, 9_999);
  });

  test('heartbeat default (3000) against a smaller sessionTimeoutMs', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.kafka!.sessionTimeoutMs = 2_000;
          }),
        ),
      'kafka.heartbeatIntervalMs',
      'below sessionTimeoutMs',
      'got nothing',
    );
  });

  test('maxInFlightPerPartition > maxInFlightTotal', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.flowControl = { maxInFlightPerPartition: 101, maxInFlightTotal: 100 };
          }),
        ),
      'flowControl.maxInFlightPerPartition',
      'expected maxInFlightPerPartition <= maxInFlightTotal',
      'got 101',
    );
    const equal = validateConfig(
      minimalWith((c) => {
        c.flowControl = { maxInFlightPerPartition: 100, maxInFlightTotal: 100 };
      }),
    );
    assert.equal(equal.flowControl.maxInFlightPerPartition, 100);
  });

  test('bounds: too small, too big, not an integer', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.batching = { maxBatchSize: 0 };
          }),
        ),
      'batching.maxBatchSize',
      'expected number >= 1',
      'got 0',
    );
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.batching = { maxBatchSize: 65_537 };
          }),
        ),
      'batching.maxBatchSize',
      'expected number <= 65536',
      'got 65537',
    );
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.model!.inferenceThreads = 1.5;
          }),
        ),
      'model.inferenceThreads',
      'got 1.5',
    );
    assert.equal(
      validateConfig(minimalWith((c) => void (c.model!.device = 'webgpu'))).model.inferenceThreads,
      1,
      '"auto" is one thread on a GPU',
    );
    const auto = Math.min(os.availableParallelism(), 4);
    const paired = (model: Record<string, unknown>) =>
      validateConfig(
        minimalWith((c) => {
          c.model = { repository: 'models', name: 'fraud-mlp', device: 'cpu', ...model };
        }),
      ).model.inferenceThreads;
    const half = Math.max(1, Math.floor(auto / 2));
    assert.equal(
      paired({ shadow: { version: '2', topic: 's' } }),
      half,
      'a shadow shares the cores',
    );
    assert.equal(paired({ canary: { version: '2', percent: 10 } }), half, 'so does a canary');
    assert.equal(
      paired({ canary: { version: '2', percent: 10, device: 'webgpu' } }),
      auto,
      'a canary on another device leaves the cores to the primary',
    );
    assert.equal(paired({ shadow: { version: '2', topic: 's' }, inferenceThreads: 3 }), 3);
  });

  test('empty broker list', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.kafka!.brokers = [];
          }),
        ),
      'kafka.brokers',
      'expected array >= 1',
      'got []',
    );
  });

  test('wrong type of a nested value', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.kafka!.fromBeginning = 'yes';
          }),
        ),
      'kafka.fromBeginning',
      'expected boolean',
      'got "yes"',
    );
  });

  test('model: neither path nor repository + name', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.model = { device: 'cpu' };
          }),
        ),
      'model.path',
      'expected either path, or repository and name',
      'got nothing',
    );
  });

  test('model: both path and repository + name', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.model = { path: '/m/1', repository: '/m', name: 'fraud' };
          }),
        ),
      'model.path',
      'expected either path, or repository and name',
      'got "/m/1"',
    );
  });

  test('model: repository + name alone is valid', () => {
    const config = validateConfig(
      minimalWith((c) => {
        c.model = { repository: 'models', name: 'fraud-mlp' };
      }),
    );
    assert.equal(config.model.path, undefined);
    assert.equal(config.model.repository, 'models');
    assert.equal(config.model.name, 'fraud-mlp');
  });

  test('unknown log level', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.observability = { logLevel: 'loud' };
          }),
        ),
      'observability.logLevel',
      'expected one of fatal, error, warn, info, debug, trace, silent',
      'got "loud"',
    );
  });
});

describe('unknown keys are errors, with the key probably meant', () => {
  test('a misspelled file key names it and the close known key', () => {
    assertConfigError(
      () => validateConfig(minimalWith((c) => (c.batching = { maxBatchSise: 32 }))),
      'batching.maxBatchSise',
      'unknown key',
      'did you mean "batching.maxBatchSize"?',
    );
  });

  test('a key nothing is close to is refused without a guess', () => {
    const error = assertConfigError(
      () => validateConfig({ ...minimal(), telemetry: { on: true } }),
      'telemetry',
      'unknown key',
    );
    assert.doesNotMatch(error.message, /did you mean/);
  });

  test('a misspelled INFER_* variable names the variable and the one meant', () => {
    const file = writeTemp('typo.json', JSON.stringify(minimal()));
    assertConfigError(
      () => loadConfig(file, { INFER_KAFKA__BROKER: 'prod:9092' }),
      'kafka.broker',
      'set by INFER_KAFKA__BROKER',
      'did you mean "INFER_KAFKA__BROKERS"?',
    );
  });

  test('a typo wins over the required key it leaves missing', () => {
    assertConfigError(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.kafka!.groupID = c.kafka!.groupId;
            delete c.kafka!.groupId;
          }),
        ),
      'kafka.groupID',
      'did you mean "kafka.groupId"?',
    );
  });
});

describe('config errors keep secrets out of their message (it goes to stderr as is)', () => {
  test('an invalid secret value is named by key, its value redacted', () => {
    assert.throws(
      () =>
        validateConfig(
          minimalWith((c) => {
            c.kafka!.sasl = { mechanism: 'plain', username: 'u', password: 424242424242 };
          }),
        ),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.key, 'kafka.sasl.password');
        assert.doesNotMatch(error.message, /424242424242/);
        assert.match(error.message, /\[redacted\]/);
        return true;
      },
    );
  });

  test('a bad section holding a secret, or a URL with a password, shows neither', () => {
    for (const patch of [
      (c: Record<string, Record<string, unknown>>) => {
        c.kafka!.sasl = 'mechanism=plain password=hunter2hunter2';
      },
      (c: Record<string, Record<string, unknown>>) => {
        c.kafka!.sasl = ['x', { password: 'hunter2hunter2' }];
      },
      (c: Record<string, Record<string, unknown>>) => {
        c.cache = { redisUrl: 42, note: 'redis://me:hunter2hunter2@127.0.0.1:6379' };
      },
    ]) {
      assert.throws(
        () => validateConfig(minimalWith(patch)),
        (error: unknown) => error instanceof ConfigError && !/hunter2hunter2/.test(error.message),
      );
    }
  });

  test('passwords given as librdkafka properties are scrubbed from logs too', () => {
    const config = validateConfig(
      minimalWith((c) => {
        c.kafka!.librdkafka = { 'sasl.password': 'rd-secret-1', 'socket.keepalive.enable': true };
      }),
    );
    assert.ok(secretsOf(config).includes('rd-secret-1'));
    assert.ok(!secretsOf(config).includes('true'));
  });
});
