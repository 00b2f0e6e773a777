/**
 * The benchmark suite: `npm run bench` (after `npm run build`; the worker sections run the
 * compiled worker). Prints figures only, a markdown table per section and then the ratios; it
 * asserts nothing about timings. On a shared 2-core machine absolute numbers move with other
 * people's load, so compare the ratios, which are measured side by side in one run.
 *
 * Sections run one after another, never two measurements at once; each creates its own topics
 * and group on the local stack (127.0.0.1) and deletes them afterwards. Counts and limits come
 * from the environment (see bench-settings.ts), e.g. BENCH_FRAUD_EVENTS=10000, and
 * BENCH_SECTIONS=ort,worker runs a subset.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EMBEDDING_MODEL, FRAUD_MODEL } from './bench-models.js';
import { benchSettings } from './bench-settings.js';
import { requireKafkaAndRedis } from './bench-stack.js';
import { fmt, markdownTable, progress, ratio } from './bench-table.js';
import { benchCacheThroughput, cacheTable } from './cache-throughput.bench.js';
import { environmentLine, loadAverage } from './environment.js';
import { benchPassThrough, passThroughTable, type DrainMeasurement } from './pass-through.bench.js';
import { benchRawOnnx, nearestBatch, rawOnnxTable, type OrtMeasurement } from './raw-onnx.bench.js';
import { killLiveWorkers } from './worker-drain.js';
import { benchWorkerThroughput, workerTable, type WorkerRun } from './worker-throughput.bench.js';

const COMPILED_WORKER = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function withUnit(value: number, unit: string): string {
  return Number.isFinite(value) ? `${fmt(value)} ${unit}` : 'n/a';
}

function print(text = ''): void {
  process.stdout.write(`${text}\n`);
}

function abort(reason: string, code: number): never {
  progress(`aborting: ${reason}`);
  killLiveWorkers();
  process.exit(code);
}

async function main(): Promise<void> {
  const settings = benchSettings();
  const { sections } = settings;
  const startedAt = Date.now();
  const loadAtStart = loadAverage();
  setTimeout(
    () => abort(`the run passed BENCH_MAX_SECONDS (${settings.maxRunMs / 1000} s)`, 2),
    settings.maxRunMs,
  ).unref();
  process.once('SIGINT', () => abort('SIGINT', 130));
  process.once('SIGTERM', () => abort('SIGTERM', 143));

  const needsKafka =
    sections.has('pass-through') || sections.has('worker') || sections.has('cache');
  if ((sections.has('worker') || sections.has('cache')) && !existsSync(COMPILED_WORKER)) {
    throw new Error(`${COMPILED_WORKER} is missing: run \`npm run build\` first`);
  }
  if (needsKafka) await requireKafkaAndRedis();

  print('# Benchmarks');
  print();
  print('Figures, not assertions. Compare the ratios: they are measured side by side in this run.');

  let ort: OrtMeasurement[] = [];
  if (sections.has('ort')) {
    ort = await benchRawOnnx([FRAUD_MODEL, EMBEDDING_MODEL], {
      secondsPerSize: settings.ortSecondsPerSize,
      minCalls: settings.ortMinCalls,
    });
    print();
    print('## 1. Raw ONNX Runtime (onnxruntime-node in-process, CPU, 1 intra-op thread)');
    print();
    print(
      `Median of ≥${settings.ortMinCalls} calls over ≥${settings.ortSecondsPerSize} s per batch ` +
        'size, after warm-up; one tensor reused, so this is the model alone.',
    );
    print();
    print(rawOnnxTable(ort));
  }

  let passThrough: DrainMeasurement | undefined;
  if (sections.has('pass-through')) {
    passThrough = await benchPassThrough(settings.fraudEvents, settings.drainTimeoutMs);
    print();
    print('## 2. Kafka pass-through peer (kafkajs consume → produce acks=-1 → commit)');
    print();
    print(
      `${fmt(settings.fraudEvents)} pre-filled JSON fraud events; timed from group join until ` +
        'the committed offsets reach the end offsets.',
    );
    print();
    print(passThroughTable(passThrough));
  }

  let workers: { fraud: WorkerRun; fraudKafkajs: WorkerRun; embedding: WorkerRun } | undefined;
  if (sections.has('worker')) {
    workers = await benchWorkerThroughput(
      settings.fraudEvents,
      settings.embeddingEvents,
      settings.drainTimeoutMs,
    );
    print();
    print('## 3. Worker end to end (compiled worker, child process)');
    print();
    print(
      'device cpu, inferenceThreads 1, maxBatchSize 256, maxBatchDelayMs 5, other options ' +
        'default; fresh topics and group; timed from group join until the committed offsets ' +
        'reach the end offsets (startup not included, shown apart).',
    );
    print();
    print(workerTable([workers.fraud, workers.fraudKafkajs, workers.embedding]));
  }

  if (sections.has('cache')) {
    const cache = await benchCacheThroughput(
      settings.cacheEvents,
      settings.cacheDistinctRows,
      settings.drainTimeoutMs,
    );
    print();
    print('## 4. Prediction cache on a repeated-input stream (embedding-mlp/1)');
    print();
    print(
      `${fmt(settings.cacheEvents)} events, embeddingEvent(i % ${settings.cacheDistinctRows}) ` +
        'each with its own id; worker options as in section 3. "redis, warm" is a second pass ' +
        'over the same stream with the same key prefix (what a redelivery finds).',
    );
    print();
    print(cacheTable(cache));
  }

  print();
  print('## Ratios');
  print();
  const fraud256 = ort.find((r) => r.model === FRAUD_MODEL.label && r.batchSize === 256);
  const embeddingAtMean = workers
    ? nearestBatch(ort, EMBEDDING_MODEL.label, workers.embedding.meanBatchSize)
    : undefined;
  print(
    markdownTable(
      ['ratio', 'value', 'numerator', 'denominator'],
      [
        [
          'worker(fraud, librdkafka transport) events/s ÷ pass-through events/s',
          ratio(workers?.fraud.eventsPerSecond ?? NaN, passThrough?.eventsPerSecond ?? NaN),
          withUnit(workers?.fraud.eventsPerSecond ?? NaN, 'events/s'),
          withUnit(passThrough?.eventsPerSecond ?? NaN, 'events/s'),
        ],
        [
          'worker(fraud, kafkajs transport) events/s ÷ pass-through events/s',
          ratio(workers?.fraudKafkajs.eventsPerSecond ?? NaN, passThrough?.eventsPerSecond ?? NaN),
          withUnit(workers?.fraudKafkajs.eventsPerSecond ?? NaN, 'events/s'),
          withUnit(passThrough?.eventsPerSecond ?? NaN, 'events/s'),
        ],
        [
          'worker(fraud) events/s ÷ raw ORT fraud rows/s @ batch 256',
          ratio(workers?.fraud.eventsPerSecond ?? NaN, fraud256?.rowsPerSecond ?? NaN),
          withUnit(workers?.fraud.eventsPerSecond ?? NaN, 'events/s'),
          withUnit(fraud256?.rowsPerSecond ?? NaN, 'rows/s'),
        ],
        [
          `worker(embedding) events/s ÷ raw ORT embedding rows/s @ batch ` +
            `${embeddingAtMean?.batchSize ?? '?'} (nearest to the worker's mean batch ` +
            `${fmt(workers?.embedding.meanBatchSize ?? NaN, 1)})`,
          ratio(workers?.embedding.eventsPerSecond ?? NaN, embeddingAtMean?.rowsPerSecond ?? NaN),
          withUnit(workers?.embedding.eventsPerSecond ?? NaN, 'events/s'),
          withUnit(embeddingAtMean?.rowsPerSecond ?? NaN, 'rows/s'),
        ],
      ],
    ),
  );
  print();
  print(environmentLine(loadAtStart));
  progress(`done in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    killLiveWorkers();
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
