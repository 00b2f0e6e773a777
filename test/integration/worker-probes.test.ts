/**
 * Probes that notice a stall: /readyz is 503 while work waits in flight with no acknowledgement
 * past observability.stallAfterMs, /healthz too past unhealthyAfterMs, and /healthz is 503 after
 * the event loop was blocked (here: the whole process stopped with SIGSTOP). Both recover.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { waitFor } from '../helpers/kafka-test-helpers.js';
import {
  SuiteTopics,
  jsonMessage,
  produceMessages,
  readOutputs,
  workerConfigFor,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

function waitForStatus(worker: WorkerProcess, path: string, expected: number, timeoutMs = 20_000) {
  return waitFor(async () => (await worker.status(path)) === expected, {
    timeoutMs,
    intervalMs: 100,
    message: `${path} to answer ${expected}`,
  });
}

describe('worker probes notice a stall and a blocked event loop', () => {
  const suiteTopics = new SuiteTopics();
  let worker: WorkerProcess | undefined;

  before(async () => {
    await ensureStackUp();
  });
  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    await suiteTopics.deleteAll();
  });

  it('work in flight with no acknowledgement: not ready, then not live; both recover', async () => {
    const topics = await suiteTopics.pipeline('probe-stall', 1);
    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', {
        model: { debugInferenceDelayMs: 9_000 }, // one batch holds its thread this long
        batching: { maxBatchSize: 500 },
        observability: { stallAfterMs: 2_000, unhealthyAfterMs: 5_000 },
      }),
    );
    await worker.waitReady();
    assert.equal(await worker.status('/healthz'), 200);
    await produceMessages(
      topics.input,
      Array.from({ length: 50 }, (_, i) => jsonMessage(fraudEvent(i))),
    );
    await waitForStatus(worker, '/readyz', 503);
    assert.equal(await worker.metric('inference_pipeline_stalled'), 1);
    await waitForStatus(worker, '/healthz', 503);
    await readOutputs(topics, 50);
    await waitForStatus(worker, '/readyz', 200);
    await waitForStatus(worker, '/healthz', 200);
    assert.equal(await worker.metric('inference_pipeline_stalled'), 0);
    await worker.kill('SIGKILL');
    worker = undefined;
  });

  it('an event loop blocked past maxEventLoopBlockMs: not live afterwards', async () => {
    const topics = await suiteTopics.pipeline('probe-blocked', 1);
    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', {
        observability: { maxEventLoopBlockMs: 1_500 },
      }),
    );
    await worker.waitReady();
    assert.equal(await worker.status('/healthz'), 200);
    process.kill(worker.pid, 'SIGSTOP');
    await sleep(3_000);
    process.kill(worker.pid, 'SIGCONT');
    await waitForStatus(worker, '/healthz', 503, 5_000);
    await worker.kill('SIGKILL');
    worker = undefined;
  });
});
