/**
 * Latency under open-loop load: the worker (its defaults, librdkafka) on a fresh input while
 * the Python rate producer sends fraud events at a fixed share of the worker's measured maximum
 * rate, whatever the worker does; then the batching Python peer (one session.run per poll, a
 * 5 ms poll wait) under the same load on its own topics. Latency per event is its prediction's
 * LogAppendTime minus the input record's timestamp (set when the producer sent it); both are the
 * broker host's clock.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LOG_APPEND_TIME,
  createPipelineTopics,
  workerConfigFor,
} from '../helpers/pipeline-fixture.js';
import { endOffsets } from '../helpers/kafka-test-helpers.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';
import { FRAUD_MODEL } from './bench-models.js';
import { fmt, markdownTable, progress } from './bench-table.js';
import { waitUntilCommitted } from './drain-timer.js';
import { INPUT_PARTITIONS, removePipeline } from './prefilled-input.js';
import { drainWithPythonPeer, produceAtRate, topicStats, visibleLatency } from './python-peers.js';
import { batchingSchema, deliverySchema } from '../../src/config/worker-config.js';
import { waitFor } from '../helpers/wait-for.js';
import { WORKER_OPTIONS } from './throughput.bench.js';
import { stopWorker, trackWorker } from './worker-drain.js';

/** The worker's default maxBatchDelayMs, which the benchmark runs with. */
const DEFAULT_BATCH_DELAY_MS = batchingSchema.parse({}).maxBatchDelayMs;
/** The Python peer's consume timeout under open-loop load. */
const PEER_POLL_WAIT_MS = 5;

export interface LatencyRow {
  share: number;
  targetRate: number;
  achievedRate: number;
  events: number;
  p50: number;
  p95: number;
  p99: number;
  /** The worker's own p99 inference time per batch (its histogram's bucket bound), ms. */
  batchP99Ms: number;
  /** The batching Python peer under the same load. */
  python: { p50: number; p95: number; p99: number };
  /** maxBatchDelayMs + 3 × batch p99 + 10 ms: the target p99 at half the maximum rate. */
  boundMs: number;
}

export async function benchLatency(
  maxRate: number,
  shares: readonly number[],
  secondsPerLoad: number,
  timeoutMs: number,
): Promise<LatencyRow[]> {
  const rows: LatencyRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'bench-latency-'));
  for (const share of shares) {
    const rate = Math.max(1, Math.round(maxRate * share));
    const events = Math.max(100, Math.round(rate * secondsPerLoad));
    const file = join(dir, `events-${share}.jsonl`);
    writeFileSync(
      file,
      Array.from({ length: events }, (_, i) => JSON.stringify(fraudEvent(i))).join('\n'),
    );
    const topics = await createPipelineTopics(
      'bench-latency',
      INPUT_PARTITIONS,
      undefined,
      LOG_APPEND_TIME,
    );
    const worker = trackWorker(
      await WorkerProcess.start(workerConfigFor(topics, FRAUD_MODEL.dir, WORKER_OPTIONS)),
    );
    try {
      await worker.waitReady(timeoutMs);
      progress(`latency: ${fmt(rate)} events/s (${share * 100}% of max) for ${secondsPerLoad} s`);
      const sent = await produceAtRate(topics.input, file, rate, timeoutMs);
      await waitUntilCommitted(
        topics.groupId,
        topics.input,
        await endOffsets(topics.input),
        timeoutMs,
      );
      const stats = await topicStats(topics.output, true, timeoutMs);
      const batchP99Ms =
        1000 *
        histogramQuantile(
          await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text(),
          'inference_batch_duration_seconds',
          0.99,
        );
      rows.push({
        share,
        targetRate: rate,
        achievedRate: sent.rate,
        events: stats.count,
        p50: stats.latency!['50'],
        p95: stats.latency!['95'],
        p99: stats.latency!['99'],
        batchP99Ms,
        boundMs: DEFAULT_BATCH_DELAY_MS + 3 * batchP99Ms + 10,
        python: await pythonPeerLatency(file, rate, events, join(dir, `ready-${share}`), timeoutMs),
      });
    } finally {
      await stopWorker(worker);
      await removePipeline(topics);
    }
  }
  return rows;
}

export interface VisibleLatencyRow {
  guarantee: 'at-least-once' | 'exactly-once';
  rate: number;
  events: number;
  p50: number;
  p95: number;
  p99: number;
}

/** The exactly-once target: p50 within one transaction interval plus 10 ms. */
export const EXACTLY_ONCE_P50_BOUND_MS = deliverySchema.parse({}).transactionIntervalMs + 10;

/**
 * What a downstream read_committed reader sees: the time each prediction reaches it minus its
 * event's timestamp, for the worker at least once and exactly once (where outputs become
 * visible when their transaction commits), side by side under the same open-loop load.
 */
export async function benchVisibleLatency(
  rate: number,
  secondsPerLoad: number,
  timeoutMs: number,
): Promise<VisibleLatencyRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-visible-'));
  const events = Math.max(100, Math.round(rate * secondsPerLoad));
  const file = join(dir, 'events.jsonl');
  writeFileSync(
    file,
    Array.from({ length: events }, (_, i) => JSON.stringify(fraudEvent(i))).join('\n'),
  );
  const rows: VisibleLatencyRow[] = [];
  for (const guarantee of ['at-least-once', 'exactly-once'] as const) {
    const topics = await createPipelineTopics('bench-visible', INPUT_PARTITIONS);
    const worker = trackWorker(
      await WorkerProcess.start(
        workerConfigFor(topics, FRAUD_MODEL.dir, { ...WORKER_OPTIONS, delivery: { guarantee } }),
      ),
    );
    try {
      await worker.waitReady(timeoutMs);
      const readyFile = join(dir, `ready-${guarantee}`);
      const following = visibleLatency(topics.output, events, readyFile, timeoutMs);
      await Promise.race([
        waitFor(() => existsSync(readyFile), { timeoutMs, message: 'the reader to start' }),
        following,
      ]);
      progress(`visible latency, ${guarantee}: ${fmt(rate)} events/s for ${secondsPerLoad} s`);
      await produceAtRate(topics.input, file, rate, timeoutMs);
      const seen = await following;
      rows.push({ guarantee, rate, events: seen.count, ...percentiles(seen.latency) });
    } finally {
      await stopWorker(worker);
      await removePipeline(topics);
    }
  }
  return rows;
}

function percentiles(latency: { '50': number; '95': number; '99': number }) {
  return { p50: latency['50'], p95: latency['95'], p99: latency['99'] };
}

export function visibleLatencyTable(rows: readonly VisibleLatencyRow[]): string {
  return markdownTable(
    ['delivery', 'events/s', 'events', 'p50 ms', 'p95 ms', 'p99 ms'],
    rows.map((row) => [
      row.guarantee,
      fmt(row.rate),
      fmt(row.events),
      fmt(row.p50),
      fmt(row.p95),
      fmt(row.p99),
    ]),
  );
}

/** The batching Python peer's latency percentiles under the same open-loop load, ms. */
async function pythonPeerLatency(
  file: string,
  rate: number,
  events: number,
  readyFile: string,
  timeoutMs: number,
): Promise<{ p50: number; p95: number; p99: number }> {
  const topics = await createPipelineTopics(
    'bench-latency-python',
    INPUT_PARTITIONS,
    undefined,
    LOG_APPEND_TIME,
  );
  try {
    const draining = drainWithPythonPeer('per-poll', topics, events, FRAUD_MODEL.dir, timeoutMs, {
      pollWaitMs: PEER_POLL_WAIT_MS,
      readyFile,
    });
    await Promise.race([
      waitFor(() => existsSync(readyFile), { timeoutMs, message: 'the Python peer to join' }),
      draining,
    ]);
    progress(`latency: the Python per-poll peer at ${fmt(rate)} events/s`);
    await produceAtRate(topics.input, file, rate, timeoutMs);
    await draining;
    const stats = await topicStats(topics.output, true, timeoutMs);
    return { p50: stats.latency!['50'], p95: stats.latency!['95'], p99: stats.latency!['99'] };
  } finally {
    await removePipeline(topics);
  }
}

/** The upper bound of the first histogram bucket holding quantile `q` of the observations. */
export function histogramQuantile(metrics: string, name: string, q: number): number {
  const buckets: [number, number][] = [];
  for (const line of metrics.split('\n')) {
    const match = new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\} (\\S+)$`).exec(line);
    if (match) buckets.push([match[1] === '+Inf' ? Infinity : Number(match[1]), Number(match[2])]);
  }
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  return buckets.find(([, count]) => count >= q * total)?.[0] ?? Number.NaN;
}

export function latencyTable(rows: readonly LatencyRow[]): string {
  return markdownTable(
    [
      'load',
      'target events/s',
      'sent events/s',
      'events',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'batch p99 ms',
      'p99 bound ms',
      'python p50 ms',
      'python p99 ms',
    ],
    rows.map((row) => [
      `${row.share * 100}% of max`,
      fmt(row.targetRate),
      fmt(row.achievedRate),
      fmt(row.events),
      fmt(row.p50),
      fmt(row.p95),
      fmt(row.p99),
      fmt(row.batchP99Ms, 1),
      fmt(row.boundMs, 1),
      fmt(row.python.p50),
      fmt(row.python.p99),
    ]),
  );
}
