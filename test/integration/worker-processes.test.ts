/**
 * processes: 2 — one command, two worker processes in the group. Together they answer every event
 * once (no loss, no reordering), the supervisor's /metrics is the sum of theirs, SIGTERM stops
 * both cleanly (exit 0, everything committed), and a worker process killed with SIGKILL takes
 * the other down with it and the supervisor exits non-zero, leaving no orphan behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isProcessAlive } from '../../deploy/local/daemon.js';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { checkDelivery } from '../helpers/delivery-check.js';
import { waitFor } from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  jsonMessage,
  produceMessages,
  waitForCommittedToEnd,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess, logLines } from '../helpers/worker-process.js';

const PARTITIONS = 6;
const EVENTS = 6_000;

/** The pids of the worker processes, from their "worker running" log lines. */
function workerPids(output: string): number[] {
  const running = logLines(output).filter((line) => line.msg === 'worker running');
  return [...new Set(running.map((line) => line.pid as number))];
}

describe('processes: 2 — one command, two group members', () => {
  let topics: PipelineTopics;
  let worker: WorkerProcess | undefined;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('processes', PARTITIONS);
  });
  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    await deletePipelineTopics(topics);
  });

  it('answers every event once, sums the metrics, and stops both on SIGTERM', async () => {
    await produceMessages(
      topics.input,
      Array.from({ length: EVENTS }, (_, i) => jsonMessage(fraudEvent(i))),
    );
    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', { processes: 2 }),
    );
    await worker.waitReady();
    await waitForCommittedToEnd(topics, 120_000);

    const report = await checkDelivery(topics);
    assert.equal(report.inputs, EVENTS);
    assert.deepEqual(report.lost, [], 'no input without its prediction');
    assert.equal(report.orderViolations, 0);
    assert.equal(report.predicted, EVENTS);

    const pids = workerPids(worker.output);
    assert.equal(pids.length, 2, 'two worker processes ran');
    assert.ok(!pids.includes(worker.pid), 'the supervisor is not one of them');
    // Both members consumed, and the supervisor's /metrics adds up what each counted.
    assert.equal(await worker.metric('inference_events_consumed_total'), EVENTS);
    await waitFor(async () => (await worker!.metric('inference_worker_ready')) === 1, {
      timeoutMs: 10_000,
      message: () => 'inference_worker_ready (the minimum over the processes) to be 1',
    });
    // Each partition's lag comes from the process that owns it: one series each, never two.
    const text = await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
    const lags = text.split('\n').filter((line) => line.startsWith('kafka_consumergroup_lag{'));
    const partitions = lags.map((line) => /partition="(\d+)"/.exec(line)![1]);
    assert.ok(lags.length > 0 && lags.length <= PARTITIONS, lags.join('\n'));
    assert.equal(new Set(partitions).size, partitions.length, lags.join('\n'));
    assert.ok(
      lags.every((line) => line.endsWith(' 0')),
      `drained:\n${lags.join('\n')}`,
    );

    const status = await worker.kill('SIGTERM');
    assert.deepEqual(status, { code: 0, signal: null }, worker.output.slice(-2000));
    assert.equal(worker.output.match(/"msg":"worker stopped"/g)?.length, 2, 'both drained');
    for (const pid of pids) assert.ok(!isProcessAlive(pid), `worker process ${pid} is gone`);
    worker = undefined;
  });

  it('worker processes that cannot start (a missing output topic) make the command exit 78', async () => {
    await worker?.kill('SIGKILL'); // left by a failed earlier test
    const config = workerConfigFor(topics, 'models/fraud-mlp/1', { processes: 2 });
    const kafka = config.kafka as Record<string, unknown>;
    worker = await WorkerProcess.start({
      ...config,
      kafka: { ...kafka, outputTopic: `${topics.output}-missing` },
    });
    const status = await worker.exited;
    assert.equal(status.code, 78, worker.output.slice(-2000));
    assert.match(worker.output, /-missing/);
    worker = undefined;
  });

  it('a worker process killed with SIGKILL stops the other; the supervisor exits non-zero', async () => {
    await worker?.kill('SIGKILL'); // left by a failed first test
    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', { processes: 2 }),
    );
    await worker.waitReady();
    const pids = workerPids(worker.output);
    assert.equal(pids.length, 2);
    process.kill(pids[0]!, 'SIGKILL');
    const status = await worker.exited;
    assert.equal(status.code, 1, worker.output.slice(-2000));
    assert.match(worker.output, /a worker process exited on its own; stopping the others/);
    assert.ok(!isProcessAlive(pids[1]!), 'the other worker process stopped too');
    worker = undefined;
  });

  it('SIGTERM while the worker processes warm up: they leave without joining, exit 0', async () => {
    await worker?.kill('SIGKILL'); // left by a failed earlier test
    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', { processes: 2 }),
    );
    const started = () =>
      logLines(worker!.output).some((line) => line.msg === 'worker processes started');
    await waitFor(async () => started(), {
      timeoutMs: 30_000,
      message: () => 'the supervisor to start its worker processes',
    });
    await new Promise((resolve) => setTimeout(resolve, 300)); // loading their models now
    const status = await worker.kill('SIGTERM');
    assert.deepEqual(status, { code: 0, signal: null }, worker.output.slice(-2000));
    assert.equal(workerPids(worker.output).length, 0, 'none joined the group');
    worker = undefined;
  });
});
