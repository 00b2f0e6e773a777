/**
 * One compiled worker (node dist/cli/main.js worker, via WorkerProcess) draining a pre-filled
 * input: events/s from the moment it joined its group until the group's committed offsets reach
 * the end offsets, plus what its /metrics say (batch sizes, cache lookups, outcomes).
 */
import type { PartitionOffsets } from '../helpers/kafka-test-helpers.js';
import type { PipelineTopics } from '../helpers/pipeline-fixture.js';
import { WorkerProcess, logLines } from '../helpers/worker-process.js';
import { progress } from './bench-table.js';
import { waitUntilCommitted } from './drain-timer.js';

export interface WorkerDrain {
  events: number;
  /** Spawn until /readyz (model loaded and warm, group joined): not part of the rate. */
  startupSeconds: number;
  seconds: number;
  eventsPerSecond: number;
  inferenceCalls: number;
  meanBatchSize: number;
  cacheHits: number;
  cacheLookups: number;
  /** Failed or timed-out (cache.commandTimeoutMs) lookups: each one's whole batch misses. */
  cacheGetErrors: number;
  /** Failed or timed-out background stores. */
  cacheSetErrors: number;
  predictions: number;
  deadLetters: number;
  /** Where the start of the clock came from: the worker's "joined consumer group" log line or /readyz. */
  clockStart: 'join log' | 'readyz';
}

/** Workers alive right now, so that an aborted run can kill them (see killLiveWorkers). */
const live = new Set<WorkerProcess>();

export function killLiveWorkers(): void {
  for (const worker of live) worker.child.kill('SIGKILL');
}

export async function drainWithWorker(
  topics: PipelineTopics,
  end: PartitionOffsets,
  config: Record<string, unknown>,
  timeoutMs: number,
  nodeArgs: string[] = [],
): Promise<WorkerDrain> {
  const events = Object.values(end).reduce((sum, offset) => sum + offset, 0);
  const spawnedAt = Date.now();
  const worker = trackWorker(await WorkerProcess.start(config, {}, nodeArgs));
  try {
    await worker.waitReady(timeoutMs);
    const readyAt = Date.now();
    progress(`worker ready in ${((readyAt - spawnedAt) / 1000).toFixed(1)} s; draining ${events}`);
    const doneAt = await waitUntilCommitted(topics.groupId, topics.input, end, timeoutMs);
    const joinedAt = joinTime(worker.output);
    const startedAt = joinedAt ?? readyAt;
    const seconds = (doneAt - startedAt) / 1000;
    const batchRows = await worker.metric('inference_batch_size_sum');
    const inferenceCalls = await worker.metric('inference_batch_size_count');
    return {
      events,
      startupSeconds: (readyAt - spawnedAt) / 1000,
      seconds,
      eventsPerSecond: events / seconds,
      inferenceCalls,
      meanBatchSize: inferenceCalls > 0 ? batchRows / inferenceCalls : Number.NaN,
      cacheHits: await worker.metric('inference_cache_lookups_total{result="hit"}'),
      cacheLookups: await worker.metric('inference_cache_lookups_total'),
      cacheGetErrors: await worker.metric('inference_cache_errors_total{operation="get"}'),
      cacheSetErrors: await worker.metric('inference_cache_errors_total{operation="set"}'),
      predictions: await worker.metric('inference_predictions_total'),
      deadLetters: await worker.metric('inference_dead_letters_total'),
      clockStart: joinedAt === undefined ? 'readyz' : 'join log',
    };
  } finally {
    await stopWorker(worker);
  }
}

/** Registers a worker so that an aborted run kills it; stopWorker forgets it. */
export function trackWorker(worker: WorkerProcess): WorkerProcess {
  live.add(worker);
  return worker;
}

/** The pino time (epoch ms) of the worker's first "joined consumer group" line, if logged. */
function joinTime(output: string): number | undefined {
  const joined = logLines(output).find(
    (line) => line.msg === 'joined consumer group' && typeof line.time === 'number',
  );
  return joined?.time;
}

/** SIGTERM (graceful: leaves the group), SIGKILL if it has not exited after 30 s. */
export async function stopWorker(worker: WorkerProcess): Promise<void> {
  live.delete(worker);
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 30_000);
  try {
    await worker.exited;
  } finally {
    clearTimeout(timer);
  }
}
