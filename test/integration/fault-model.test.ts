/**
 * Fault suite, model faults: a model that fails on every real row is not bad input. Dropped into
 * the repository under load, it is rolled back with no dead letter; as the only version, it holds
 * intake (not ready, circuit open) until a good version arrives, and then every event is answered.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { produceInBackground } from '../helpers/background-producer.js';
import { checkDelivery, describeReport } from '../helpers/delivery-check.js';
import { faultScale, recordFaultFigures } from '../helpers/fault-figures.js';
import { waitFor } from '../helpers/kafka-test-helpers.js';
import {
  SuiteTopics,
  header,
  jsonMessage,
  produceMessages,
  readOutputs,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { writeRuntimeFailingModel } from '../helpers/runtime-failing-model.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess, logLines } from '../helpers/worker-process.js';

/** Drops a model version into a repository atomically: written aside, then renamed into place. */
function dropVersion(repository: string, version: string, write: (dir: string) => void): void {
  const aside = join(repository, 'fraud-mlp', `.incoming-${version}`);
  write(aside);
  renameSync(aside, join(repository, 'fraud-mlp', version));
}

function repositoryWith(version: string, write: (dir: string) => void): string {
  const repository = mkdtempSync(join(tmpdir(), 'models-'));
  dropVersion(repository, version, write);
  return repository;
}

const goodVersion = (source: string) => (dir: string) => cpSync(source, dir, { recursive: true });
const brokenVersion = (version: string) => (dir: string) =>
  writeRuntimeFailingModel('models/fraud-mlp/2', dir, version);

function modelConfig(topics: PipelineTopics, repository: string) {
  return workerConfigFor(topics, '', {
    model: {
      path: undefined,
      repository,
      name: 'fraud-mlp',
      version: 'latest',
      watchIntervalMs: 300,
    },
    batching: { maxBatchSize: 32 },
    delivery: { retryBackoffMs: 100, maxRetryBackoffMs: 1_000 },
  });
}

describe('fault suite: a model that fails on every row', () => {
  const suiteTopics = new SuiteTopics();
  let worker: WorkerProcess | undefined;

  before(async () => {
    await ensureStackUp();
  });
  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    await suiteTopics.deleteAll();
  });

  it('hot-swapped in under load: rolled back, no dead letter, every event predicted by v1', async () => {
    const topics = await suiteTopics.pipeline('fault-rollback', 4);
    const repository = repositoryWith('1', goodVersion('models/fraud-mlp/1'));
    worker = await WorkerProcess.start(modelConfig(topics, repository));
    await worker.waitReady();
    const events = faultScale(4_000, 40_000);
    const producer = produceInBackground(topics.input, events, 1_500, fraudEvent);
    await sleep(1_500);
    dropVersion(repository, '2', brokenVersion('2'));
    assert.equal(await producer.done, events);

    const report = await checkDelivery(topics);
    process.stdout.write(describeReport('model fault under load', report));
    assert.deepEqual(report.lost, [], 'none lost');
    assert.equal(report.deadLettered, 0, 'a model fault dead-letters nothing');
    assert.equal(report.orderViolations, 0);
    assert.equal(report.duplicates, 0, 'the faulted batches ran once, on the restored version');
    assert.equal(await worker.metric('inference_model_rollbacks_total'), 1);
    assert.ok((await worker.metric('inference_model_faults_total')) >= 1);
    assert.equal(await worker.metric('inference_model_circuit_open'), 0, 'closed again');
    assert.equal(await worker.status('/readyz'), 200);

    const lines = logLines(worker.output);
    const fault = lines.find((line) => line.msg?.startsWith('model fault'));
    const rollback = lines.find((line) => line.msg?.startsWith('model version rolled back'));
    assert.ok(fault && rollback, `fault and rollback logged:\n${worker.output.slice(-3000)}`);
    assert.equal(rollback.from, '2');
    assert.equal(rollback.to, '1');
    recordFaultFigures('model fault hot-swapped under load', report, {
      'rollback ms': Number(rollback.time) - Number(fault.time),
    });
    await worker.kill('SIGKILL');
    worker = undefined;
  });

  it('as the only version: holds intake, not ready, no dead letter, until a good one arrives', async () => {
    const topics = await suiteTopics.pipeline('fault-hold', 4);
    const repository = repositoryWith('1', brokenVersion('1'));
    worker = await WorkerProcess.start(modelConfig(topics, repository));
    await worker.waitReady(); // it loads and warms up: zeros pass the tripwire
    const events = 300;
    await produceMessages(
      topics.input,
      Array.from({ length: events }, (_, i) => jsonMessage(fraudEvent(i))),
    );
    const running = worker;
    await waitFor(async () => (await running.metric('inference_model_circuit_open')) === 1, {
      timeoutMs: 30_000,
      message: 'the circuit to open',
    });
    assert.equal(await worker.status('/readyz'), 503, 'not ready while the model fails');
    await sleep(3_000); // retries with backoff meanwhile
    const held = await readOutputs(topics, 0, 0);
    assert.equal(held.predictions.length, 0);
    assert.equal(held.deadLetters.length, 0, 'nothing dead-lettered while the model is at fault');

    dropVersion(repository, '2', goodVersion('models/fraud-mlp/2'));
    const report = await checkDelivery(topics);
    process.stdout.write(describeReport('broken only version, then a good one', report));
    assert.deepEqual(report.lost, []);
    assert.equal(report.deadLettered, 0);
    assert.equal(report.orderViolations, 0);
    const { predictions } = await readOutputs(topics, events);
    assert.ok(predictions.every((record) => header(record, 'model.version') === '2'));
    await waitFor(async () => (await running.status('/readyz')) === 200, {
      timeoutMs: 10_000,
      message: 'ready again',
    });
    assert.equal(await worker.metric('inference_model_circuit_open'), 0);
    recordFaultFigures('broken only version held until a good one', report);
    await worker.kill('SIGKILL');
    worker = undefined;
  });
});
