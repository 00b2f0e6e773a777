/**
 * The client library against the worker on the local stack: the example runs as a user would
 * (importing "kafka-inference-worker/client" from dist), request/reply answers each request with
 * its own prediction at several concurrencies, a reply topic the worker does not allow is
 * dead-lettered, and the output continues the input's trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import {
  createPredictionClient,
  PredictionTimeoutError,
  subscribePredictions,
  type PredictionClient,
  type PredictionMessage,
} from 'kafka-inference-worker/client';
import { KAFKA_BOOTSTRAP } from '../../deploy/local/kafka.js';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { checkDelivery } from '../helpers/delivery-check.js';
import {
  createTopic,
  deleteTopics,
  readAllMessages,
  uniqueName,
} from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  header,
  jsonMessage,
  produceMessages,
  readOutputs,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { encodeRow, loadReferenceModel } from '../helpers/reference-model.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const MODEL = 'models/fraud-mlp/1';
const reference = loadReferenceModel(MODEL);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

describe('client library: producer, subscriber, request/reply, trace context', () => {
  let topics: PipelineTopics;
  let replyTopic: string;
  let worker: WorkerProcess | undefined;
  let client: PredictionClient | undefined;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('client', 3);
    replyTopic = await createTopic(uniqueName('replies-client'), 1);
    worker = await WorkerProcess.start(
      workerConfigFor(topics, MODEL, { replies: { allowedTopics: 'replies-.*' } }),
    );
    await worker.waitReady();
  });
  after(async () => {
    await client?.close();
    if (worker) await worker.kill('SIGKILL');
    await deletePipelineTopics(topics);
    await deleteTopics([replyTopic]);
  });

  it('runs examples/client-quickstart.ts against the worker', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'examples/client-quickstart.ts'], {
      env: {
        ...process.env,
        BROKERS: KAFKA_BOOTSTRAP,
        INPUT_TOPIC: topics.input,
        OUTPUT_TOPIC: topics.output,
        REPLY_TOPIC: replyTopic,
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /refused before sending: feature "amount" is required/);
    assert.match(
      run.stdout,
      /reply for quickstart-request: (legit|fraud) \(0\.\d{3}\) in [\d.]+ ms/,
    );
    assert.match(run.stdout, /done: \d+ predictions streamed/);
    process.stdout.write(run.stdout.replace(/^/gm, '# example: '));
  });

  it('answers concurrent requests each with its own prediction; reports round-trip latency', async () => {
    client = await createPredictionClient({
      brokers: KAFKA_BOOTSTRAP,
      topic: topics.input,
      replyTopic,
      model: MODEL,
    });
    const measure = async (settings: string) => {
      for (const concurrency of [1, 10, 100]) {
        const times: number[] = [];
        const rounds = concurrency === 100 ? 2 : 20;
        for (let round = 0; round < rounds; round++) {
          await Promise.all(
            Array.from({ length: concurrency }, async (_, i) => {
              const event = fraudEvent(10_000 + round * concurrency + i);
              const started = performance.now();
              const answer = await client!.predict(event as never, { timeoutMs: 20_000 });
              times.push(performance.now() - started);
              assert.equal(answer.key, event.id, 'its own answer');
              const fraud = answer.topK!.find((entry) => entry.label === 'fraud')!.probability;
              const want = reference.predict([encodeRow(reference.json, event as never)])[0]![1]!;
              assert.ok(Math.abs(fraud - want) < 1e-5, `${event.id}: ${fraud} vs ${want}`);
            }),
          );
        }
        times.sort((a, b) => a - b);
        process.stdout.write(
          `# request/reply, ${settings}, concurrency ${concurrency}: p50 ` +
            `${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms ` +
            `over ${times.length} requests\n`,
        );
      }
    };
    await measure('default batching (maxBatchDelayMs 5)');
    await worker!.kill('SIGTERM');
    worker = await WorkerProcess.start(
      workerConfigFor(topics, MODEL, {
        replies: { allowedTopics: 'replies-.*' },
        batching: { maxBatchDelayMs: 0 },
      }),
    );
    await worker.waitReady();
    await measure('maxBatchDelayMs 0');
    await assert.rejects(
      client.predict(fraudEvent(1) as never, { timeoutMs: 1 }),
      PredictionTimeoutError,
    );
  });

  it('dead-letters a reply topic the worker does not allow; continues the trace', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await produceMessages(topics.input, [
      jsonMessage({ ...fraudEvent(1), id: 'evil' }, { 'reply.topic': 'internal-audit' }),
      jsonMessage({ ...fraudEvent(2), id: 'traced' }, { traceparent, tracestate: 'vendor=1' }),
    ]);
    const report = await checkDelivery(topics);
    assert.deepEqual(report.lost, []);
    const { predictions, deadLetters } = await readOutputs(topics, report.inputs);
    const evil = deadLetters.find((record) => record.key?.toString() === 'evil');
    assert.ok(evil, 'the event naming a forbidden reply topic is dead-lettered');
    assert.equal(header(evil, 'dlq.error.reason'), 'reply-not-allowed');
    assert.match(header(evil, 'dlq.error.message')!, /reply topic "internal-audit" is not allowed/);
    const traced = predictions.find((record) => record.key?.toString() === 'traced')!;
    const child = header(traced, 'traceparent')!;
    assert.match(child, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    assert.notEqual(child, traceparent, 'a new span id');
    assert.equal(header(traced, 'tracestate'), 'vendor=1');
  });

  it('the reply topic holds nothing but replies, and a subscriber reads every one', async () => {
    // The request/reply test above wrote to it: each record must be a reply to one request.
    const records = await readAllMessages(replyTopic);
    assert.ok(records.length >= 100, `records on the reply topic: ${records.length}`);
    const empty = records.filter((record) => !record.value || record.value.length === 0);
    assert.equal(empty.length, 0, 'no marker or other empty record on the reply topic');
    assert.ok(records.every((record) => header(record, 'correlation.id') !== undefined));
    const seen: PredictionMessage[] = [];
    let failure: unknown;
    const subscription = await subscribePredictions(
      {
        brokers: KAFKA_BOOTSTRAP,
        topic: replyTopic,
        groupId: uniqueName('sub'),
        fromBeginning: true,
      },
      (prediction) => {
        seen.push(prediction);
      },
    );
    subscription.failed.catch((error: unknown) => (failure = error));
    const deadline = Date.now() + 30_000;
    while (seen.length < records.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await subscription.close();
    assert.equal(failure, undefined, 'the subscription did not fail');
    assert.equal(seen.length, records.length, 'every reply read as a prediction');
    assert.ok(seen.every((prediction) => prediction.correlationId !== undefined));
  });
});
