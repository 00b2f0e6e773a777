/**
 * Fatal failures (error-policy.ts) stop the worker with a message naming the cause, instead of
 * retrying forever what can never succeed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { uniqueName } from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { WorkerProcess } from '../helpers/worker-process.js';

describe('worker: fatal failures stop it with the cause', () => {
  let topics: PipelineTopics;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('fatal', 1);
  });
  after(async () => {
    await deletePipelineTopics(topics);
  });

  it('an output topic that does not exist stops start-up with exit 78 naming it', async () => {
    const missing = uniqueName('no-such-output');
    const worker = await WorkerProcess.start(
      workerConfigFor({ ...topics, output: missing }, 'models/fraud-mlp/1'),
    );
    const status = await worker.exited;
    assert.equal(status.code, 78, worker.output);
    assert.match(worker.output, new RegExp(`output topic\\(s\\) ${missing} do not exist`));
  });
});
