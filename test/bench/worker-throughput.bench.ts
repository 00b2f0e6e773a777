/**
 * Section 3: the compiled worker end to end on a pre-filled input (fresh topics and group per
 * run): fraud-mlp on the same N fraud events as the pass-through peer, and embedding-mlp on fewer
 * events (each row costs about 1 ms). Device cpu, one inference thread, batches of up to 256 cut
 * after 5 ms; every other option is the worker's default (so the in-process LRU cache is on, and
 * with all inputs distinct every lookup is a miss).
 */
import type { Message } from 'kafkajs';
import { jsonMessage, workerConfigFor } from '../helpers/pipeline-fixture.js';
import { embeddingEvent, fraudEvent } from '../helpers/sample-events.js';
import type { TransportName } from '../helpers/transports.js';
import { EMBEDDING_MODEL, FRAUD_MODEL, type BenchModel } from './bench-models.js';
import { markdownTable, fmt, progress } from './bench-table.js';
import { prefilledInput, removePipeline } from './prefilled-input.js';
import { drainWithWorker, type WorkerDrain } from './worker-drain.js';

export const WORKER_OPTIONS = {
  model: { device: 'cpu', inferenceThreads: 1 },
  batching: { maxBatchSize: 256, maxBatchDelayMs: 5 },
} as const;

export interface WorkerRun extends WorkerDrain {
  model: string;
}

export async function benchWorkerThroughput(
  fraudEvents: number,
  embeddingEvents: number,
  timeoutMs: number,
): Promise<{ fraud: WorkerRun; fraudKafkajs: WorkerRun; embedding: WorkerRun }> {
  const fraudMessages = Array.from({ length: fraudEvents }, (_, i) => jsonMessage(fraudEvent(i)));
  const fraud = await runOne(FRAUD_MODEL, fraudMessages, 'librdkafka', timeoutMs);
  const fraudKafkajs = await runOne(FRAUD_MODEL, fraudMessages, 'kafkajs', timeoutMs);
  const embedding = await runOne(
    EMBEDDING_MODEL,
    Array.from({ length: embeddingEvents }, (_, i) => jsonMessage(embeddingEvent(i))),
    'librdkafka',
    timeoutMs,
  );
  return { fraud, fraudKafkajs, embedding };
}

async function runOne(
  model: BenchModel,
  messages: readonly Message[],
  client: TransportName,
  timeoutMs: number,
): Promise<WorkerRun> {
  const { topics, end } = await prefilledInput(`bench-worker-${model.label}`, messages);
  try {
    progress(`worker ${model.label} on ${client}`);
    const config = workerConfigFor(topics, model.dir, { ...WORKER_OPTIONS, kafka: { client } });
    return {
      model: `${model.label} (${client})`,
      ...(await drainWithWorker(topics, end, config, timeoutMs)),
    };
  } finally {
    await removePipeline(topics);
  }
}

export function workerTable(runs: readonly WorkerRun[]): string {
  return markdownTable(
    [
      'model',
      'events',
      'predictions',
      'dead letters',
      'seconds',
      'events/s',
      'inference calls',
      'mean batch',
      'startup s',
    ],
    runs.map((run) => [
      run.model,
      fmt(run.events),
      fmt(run.predictions),
      fmt(run.deadLetters),
      fmt(run.seconds, 2),
      fmt(run.eventsPerSecond),
      fmt(run.inferenceCalls),
      fmt(run.meanBatchSize, 1),
      fmt(run.startupSeconds, 1),
    ]),
  );
}
