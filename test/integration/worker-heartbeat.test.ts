import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureStackUp } from '../../deploy/local/stack.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  jsonMessage,
  produceMessages,
  readOutputs,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { checkDelivery } from '../helpers/delivery-check.js';
import { recordFaultFigures } from '../helpers/fault-figures.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const SESSION_TIMEOUT_MS = 6_000;
const BATCH_DELAY_MS = 8_000; // each batch takes longer than the session timeout
const EVENTS = 240;

describe('worker: heartbeats keep the member alive while a batch computes', () => {
  let topics: PipelineTopics;
  let worker: WorkerProcess | undefined;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('heartbeat', 1);
  });
  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    await deletePipelineTopics(topics);
  });

  it('finishes batches slower than the session timeout without a rebalance', async () => {
    await produceMessages(
      topics.input,
      Array.from({ length: EVENTS }, (_, i) => jsonMessage(fraudEvent(i))),
    );
    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', {
        kafka: { sessionTimeoutMs: SESSION_TIMEOUT_MS, heartbeatIntervalMs: 1_000 },
        model: { debugInferenceDelayMs: BATCH_DELAY_MS },
        batching: { maxBatchSize: 120, maxBatchDelayMs: 50 },
      }),
    );
    await worker.waitReady();
    const started = Date.now();
    const { predictions } = await readOutputs(topics, EVENTS, 120_000);
    assert.equal(predictions.length, EVENTS);
    assert.ok(Date.now() - started > SESSION_TIMEOUT_MS, 'the run outlasted one session timeout');
    assert.equal(
      await worker.metric('inference_group_joins_total'),
      1,
      'joined once: no rebalance loop',
    );
    assert.doesNotMatch(worker.output, /The coordinator is not aware of this member|rebalancing/i);
    const report = await checkDelivery(topics);
    assert.deepEqual(report.lost, []);
    assert.equal(report.duplicates, 0, 'no rebalance, so no redelivery');
    recordFaultFigures('inference slower than the session timeout', report, {
      'batch ms': BATCH_DELAY_MS,
      'session timeout ms': SESSION_TIMEOUT_MS,
    });
  });
});
