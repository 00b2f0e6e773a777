import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { committedOffsets, endOffsets, waitFor } from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  jsonMessage,
  produceMessages,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const BACKLOG = Number(process.env.BACKPRESSURE_EVENTS ?? 200_000);
const PARTITIONS = 4;
/**
 * The bound this test holds the worker to: how far its RSS may grow above what it was when ready
 * (Node, the model on its inference threads, the Kafka clients: about 170 MiB here). With the caps
 * it grows 110-180 MiB over this backlog (librdkafka's 32 MiB fetch queue, the capped in-flight
 * events, and V8 growing its heap with the allocation rate: the spread between identical runs is
 * that heap). Without caps the worker takes events as fast as librdkafka fetches them, several
 * times faster than it answers, and holds each (about 1 KB with its outcome) until its output is
 * acknowledged: well over 100 MiB more. The cap itself is asserted exactly (in flight ≤ 1,000).
 */
const RSS_GROWTH_BOUND_BYTES = 256 * 1024 * 1024;

describe('worker: backpressure bounds memory under a large backlog', () => {
  let topics: PipelineTopics;
  let worker: WorkerProcess | undefined;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('backlog', PARTITIONS);
    const template = Array.from({ length: 1_000 }, (_, i) => fraudEvent(i));
    for (let start = 0; start < BACKLOG; start += 20_000) {
      const messages = Array.from({ length: Math.min(20_000, BACKLOG - start) }, (_, k) => {
        const event = template[(start + k) % template.length]!;
        return jsonMessage({ ...event, id: `backlog-${start + k}` });
      });
      await produceMessages(topics.input, messages, 2_000);
    }
  });
  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    await deletePipelineTopics(topics);
  });

  it(`works through ${BACKLOG} queued events, RSS growing less than ${RSS_GROWTH_BOUND_BYTES / 2 ** 20} MiB`, async () => {
    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', {
        kafka: { maxBytesPerPartition: 256 * 1024 },
        flowControl: { maxInFlightPerPartition: 500, maxInFlightTotal: 1_000 },
        batching: { maxBatchSize: 128 },
      }),
    );
    await worker.waitReady();
    const readyRss = worker.rssBytes();
    const end = await endOffsets(topics.input);
    let maxRss = 0;
    let maxInFlight = 0;
    let pausedSeen = 0;
    const started = Date.now();
    await waitFor(
      async () => {
        maxRss = Math.max(maxRss, worker!.rssBytes());
        maxInFlight = Math.max(maxInFlight, await worker!.metric('inference_in_flight_events'));
        pausedSeen = Math.max(
          pausedSeen,
          await worker!.metric('inference_backpressure_waits_total'),
        );
        const committed = await committedOffsets(topics.groupId, topics.input);
        return Object.entries(end).every(([p, offset]) => committed[Number(p)] === offset);
      },
      { timeoutMs: 400_000, intervalMs: 250, message: 'the whole backlog to be committed' },
    );
    const seconds = (Date.now() - started) / 1000;
    const produced = await worker.metric('inference_predictions_total');
    process.stdout.write(
      `# backpressure: ${BACKLOG} events in ${seconds.toFixed(1)} s (${(BACKLOG / seconds).toFixed(0)}/s), ` +
        `RSS ready ${(readyRss / 2 ** 20).toFixed(0)} MiB, max ${(maxRss / 2 ** 20).toFixed(0)} MiB, ` +
        `max in flight ${maxInFlight}, backpressure waits ${pausedSeen}\n`,
    );
    assert.ok(produced >= BACKLOG, `predictions ${produced} cover the backlog`);
    assert.ok(maxInFlight <= 1_000, `in-flight ${maxInFlight} stayed within the worker cap`);
    assert.ok(pausedSeen > 0, 'intake waited for room at least once');
    assert.ok(
      maxRss - readyRss < RSS_GROWTH_BOUND_BYTES,
      `RSS grew ${((maxRss - readyRss) / 2 ** 20).toFixed(0)} MiB over the backlog`,
    );
  });
});
