/**
 * Memory on a large backlog: the worker (tuned settings, librdkafka) drains N pre-filled fraud
 * events while its resident set size is sampled; the curve's maximum and its last value show
 * whether memory is bounded (flow control) or grows with the backlog.
 */
import {
  createPipelineTopics,
  jsonMessage,
  produceMessages,
  workerConfigFor,
} from '../helpers/pipeline-fixture.js';
import { endOffsets } from '../helpers/kafka-test-helpers.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';
import { FRAUD_MODEL } from './bench-models.js';
import { fmt, markdownTable, progress } from './bench-table.js';
import { waitUntilCommitted } from './drain-timer.js';
import { INPUT_PARTITIONS, removePipeline } from './prefilled-input.js';
import { WORKER_OPTIONS } from './throughput.bench.js';
import { stopWorker, trackWorker } from './worker-drain.js';

const SAMPLE_MS = 500;
const PRODUCE_CHUNK = 50_000;

export interface MemoryResult {
  events: number;
  seconds: number;
  maxRssMb: number;
  lastRssMb: number;
  /** [seconds since ready, RSS MB] samples. */
  samples: [number, number][];
}

export async function benchMemory(events: number, timeoutMs: number): Promise<MemoryResult> {
  const topics = await createPipelineTopics('bench-memory', INPUT_PARTITIONS);
  try {
    progress(`memory: producing ${fmt(events)} events`);
    for (let start = 0; start < events; start += PRODUCE_CHUNK) {
      const count = Math.min(PRODUCE_CHUNK, events - start);
      await produceMessages(
        topics.input,
        Array.from({ length: count }, (_, i) => jsonMessage(fraudEvent(start + i))),
      );
    }
    const end = await endOffsets(topics.input);
    const worker = trackWorker(
      await WorkerProcess.start(workerConfigFor(topics, FRAUD_MODEL.dir, WORKER_OPTIONS)),
    );
    const samples: [number, number][] = [];
    try {
      await worker.waitReady(timeoutMs);
      const readyAt = Date.now();
      const sampler = setInterval(() => {
        try {
          samples.push([(Date.now() - readyAt) / 1000, worker.rssBytes() / 2 ** 20]);
        } catch {
          // the process is gone; the drain below reports why
        }
      }, SAMPLE_MS);
      try {
        progress(`memory: draining ${fmt(events)} events`);
        const doneAt = await waitUntilCommitted(topics.groupId, topics.input, end, timeoutMs);
        samples.push([(doneAt - readyAt) / 1000, worker.rssBytes() / 2 ** 20]);
        return {
          events,
          seconds: (doneAt - readyAt) / 1000,
          maxRssMb: Math.max(...samples.map(([, mb]) => mb)),
          lastRssMb: samples.at(-1)![1],
          samples,
        };
      } finally {
        clearInterval(sampler);
      }
    } finally {
      await stopWorker(worker);
    }
  } finally {
    await removePipeline(topics);
  }
}

export function memoryTable(result: MemoryResult): string {
  return markdownTable(
    ['events', 'drain s', 'samples', 'max RSS MB', 'last RSS MB'],
    [
      [
        fmt(result.events),
        fmt(result.seconds, 1),
        fmt(result.samples.length),
        fmt(result.maxRssMb),
        fmt(result.lastRssMb),
      ],
    ],
  );
}
