/**
 * The compiled CLI (dist/cli/main.js; `npm test` builds it first) refuses a bad config with exit
 * code 78 (EX_CONFIG) and a one-line message naming the key and what was expected, and refuses a
 * missing model directory with a non-zero exit naming the path. Neither case touches Kafka.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cli-config-error-'));

/** The environment without INFER_* overrides that could change the config under test. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INFER_')));
}

function runWorker(configText: string, name: string): SpawnSyncReturns<string> {
  const file = path.join(tmp, name);
  writeFileSync(file, configText);
  return spawnSync(process.execPath, [CLI, 'worker', '--config', file], {
    cwd: ROOT,
    env: cleanEnv(),
    encoding: 'utf8',
    timeout: 15_000,
  });
}

const GOOD_KAFKA =
  'kafka:\n' +
  '  brokers: 127.0.0.1:1\n' +
  '  groupId: g\n' +
  '  inputTopics: [in]\n' +
  '  outputTopic: out\n' +
  '  deadLetterTopic: dlq\n';

before(() => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('kafka-infer worker with a bad config', () => {
  test('a wrongly typed value: exit 78, stderr names key, value and expectation', () => {
    const result = runWorker(
      `${GOOD_KAFKA}model:\n  path: models/fraud-mlp/1\nbatching:\n  maxBatchSize: abc\n`,
      'bad-type.yaml',
    );
    assert.equal(result.error, undefined, 'the CLI ran and exited in time');
    assert.equal(result.status, 78, `stderr: ${result.stderr}`);
    assert.equal(
      result.stderr.trim(),
      'kafka-infer: config key "batching.maxBatchSize": expected number, got "abc"',
    );
  });

  test('an unknown device: exit 78, stderr lists the allowed devices', () => {
    const result = runWorker(
      `${GOOD_KAFKA}model:\n  path: models/fraud-mlp/1\n  device: tpu\n`,
      'bad-device.yaml',
    );
    assert.equal(result.status, 78, `stderr: ${result.stderr}`);
    assert.match(result.stderr, /config key "model\.device"/);
    assert.match(result.stderr, /expected one of auto, cpu, cuda, webgpu/);
    assert.match(result.stderr, /got "tpu"/);
  });

  test('a missing required key: exit 78 naming kafka.outputTopic', () => {
    const result = runWorker(
      'kafka: {groupId: g, inputTopics: [a], deadLetterTopic: d}\nmodel: {path: /m}\n',
      'missing-output.yaml',
    );
    assert.equal(result.status, 78, `stderr: ${result.stderr}`);
    assert.match(result.stderr, /config key "kafka\.outputTopic": expected string, got nothing/);
  });

  test('an unreadable config file: exit 78 naming the file', () => {
    const missing = path.join(tmp, 'nope.yaml');
    const result = spawnSync(process.execPath, [CLI, 'worker', '--config', missing], {
      cwd: ROOT,
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(result.status, 78, `stderr: ${result.stderr}`);
    assert.ok(result.stderr.includes(missing), result.stderr);
    assert.match(result.stderr, /cannot read/);
  });

  test('an environment override is validated too', () => {
    const file = path.join(tmp, 'good.yaml');
    writeFileSync(file, `${GOOD_KAFKA}model:\n  path: models/fraud-mlp/1\n`);
    const result = spawnSync(process.execPath, [CLI, 'worker', '--config', file], {
      cwd: ROOT,
      env: { ...cleanEnv(), INFER_BATCHING__MAX_BATCH_SIZE: '0' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(result.status, 78, `stderr: ${result.stderr}`);
    assert.match(result.stderr, /config key "batching\.maxBatchSize": expected number >= 1, got 0/);
  });
});

describe('kafka-infer worker with a missing model directory', () => {
  const modelDir = path.join(tmp, 'no-such-model', '1');
  const config = `${GOOD_KAFKA}model:\n  path: ${modelDir}\nobservability:\n  port: 0\n`;

  test('exits non-zero with a message naming the model path', () => {
    const result = runWorker(config, 'missing-model.yaml');
    assert.equal(result.error, undefined, 'the CLI ran and exited in time');
    assert.notEqual(result.status, 0);
    assert.notEqual(result.status, null);
    const output = `${result.stdout}\n${result.stderr}`;
    assert.ok(output.includes(path.join(modelDir, 'model.json')), output);
    assert.match(output, /cannot read/);
  });

  test('exits 78 with the reason on stderr, like every other start-up error', () => {
    const result = runWorker(config, 'missing-model-78.yaml');
    assert.equal(result.status, 78);
    assert.ok(result.stderr.includes(modelDir), result.stderr);
  });
});

describe('kafka-infer usage', () => {
  const cli = (args: string[], env: NodeJS.ProcessEnv = cleanEnv()) =>
    spawnSync(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 15_000,
    });

  for (const command of ['worker', 'produce', 'tail', 'demo']) {
    test(`${command} --help prints its usage and exits 0`, () => {
      const result = cli([command, '--help']);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^kafka-infer ${command}`));
    });
  }

  test('a non-numeric --count is refused before anything starts (exit 2)', () => {
    const result = cli(['produce', '--topic', 't', '--count', 'many']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--count expects a positive integer, got "many"/);
  });

  test('an unknown option is refused with the command usage (exit 2)', () => {
    const result = cli(['tail', '--topik', 't']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Unknown option '--topik'/);
    assert.match(result.stderr, /kafka-infer tail --topic T/);
  });

  test('a misspelled INFER_* variable stops start-up with exit 78 and the variable meant', () => {
    const file = path.join(tmp, 'env-typo.yaml');
    writeFileSync(file, `${GOOD_KAFKA}model:\n  path: models/fraud-mlp/1\n`);
    const result = cli(['worker', '--config', file], {
      ...cleanEnv(),
      INFER_KAFKA__BROKER: 'prod:9092',
    });
    assert.equal(result.status, 78, result.stderr);
    assert.match(
      result.stderr,
      /config key "kafka.broker": unknown key \(set by INFER_KAFKA__BROKER\); did you mean "INFER_KAFKA__BROKERS"\?/,
    );
  });
});
