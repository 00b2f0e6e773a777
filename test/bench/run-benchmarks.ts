/**
 * The benchmark suite: `npm run bench` (after `npm run build`; the worker runs compiled, as a
 * child process). Prints figures and ratios, and writes them as results.json, results.md and
 * chart.png into BENCH_RESULTS_DIR; it asserts nothing about timings. On a shared 2-core machine
 * absolute numbers move with other people's load, so compare the ratios, which are measured side
 * by side in one run against the peers a user would pick instead.
 *
 * Sections run one after another, never two measurements at once; each creates its own topics
 * and groups on the local stack (127.0.0.1) and deletes them afterwards. Counts and limits come
 * from the environment (bench-settings.ts); BENCH_SECTIONS=light,heavy runs a subset.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSoftwareVulkan } from '../../deploy/local/vulkan.js';
import { PREDICTION_HEADER_NAMES } from '../../src/wire-contract.js';
import { jsonMessage } from '../helpers/pipeline-fixture.js';
import { embeddingEvent, fraudEvent } from '../helpers/sample-events.js';
import { benchChartPng } from './bench-chart.js';
import { EMBEDDING_MODEL, FRAUD_MODEL, fraudModelWithoutMonitoring } from './bench-models.js';
import { benchSettings } from './bench-settings.js';
import { requireKafkaAndRedis } from './bench-stack.js';
import { fmt, markdownTable, progress } from './bench-table.js';
import { benchCacheThroughput, cacheTable } from './cache-throughput.bench.js';
import { environmentLine, loadAverage } from './environment.js';
import {
  EXACTLY_ONCE_P50_BOUND_MS,
  benchLatency,
  benchVisibleLatency,
  latencyTable,
  visibleLatencyTable,
  type LatencyRow,
  type VisibleLatencyRow,
} from './latency.bench.js';
import { benchMemory, memoryTable, type MemoryResult } from './memory.bench.js';
import { killLivePeers } from './python-peers.js';
import { benchRawOnnx, rawOnnxTable, type OrtMeasurement } from './raw-onnx.bench.js';
import {
  benchThroughput,
  throughputTable,
  type Contender,
  type ThroughputRow,
} from './throughput.bench.js';
import { killLiveWorkers } from './worker-drain.js';

const COMPILED_WORKER = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Predictions with all six provenance headers (the default is none). */
const ALL_HEADERS = { kafka: { predictionHeaders: [...PREDICTION_HEADER_NAMES] } };

const LIGHT: readonly Contender[] = [
  { kind: 'worker', label: 'worker (librdkafka)', client: 'librdkafka' },
  { kind: 'worker', label: 'worker (kafkajs)', client: 'kafkajs' },
  {
    kind: 'worker',
    label: 'worker, no drift or range checks',
    client: 'librdkafka',
    modelDir: fraudModelWithoutMonitoring,
  },
  {
    kind: 'worker',
    label: 'worker, feedback (predictions kept in Redis)',
    client: 'librdkafka',
    feedback: true,
  },
  {
    kind: 'worker',
    label: 'worker, six provenance headers',
    client: 'librdkafka',
    overrides: ALL_HEADERS,
  },
  {
    kind: 'worker',
    label: 'worker, 2 processes',
    client: 'librdkafka',
    overrides: { processes: 2 },
  },
  {
    kind: 'worker',
    label: 'worker, 2 processes × 1 inference thread',
    client: 'librdkafka',
    overrides: { processes: 2, model: { inferenceThreads: 1 } },
  },
  {
    kind: 'worker',
    label: 'worker, exactly-once',
    client: 'librdkafka',
    overrides: { delivery: { guarantee: 'exactly-once' } },
  },
  { kind: 'python', label: 'python per-event', mode: 'per-event' },
  { kind: 'python', label: 'python per-poll', mode: 'per-poll' },
  { kind: 'python', label: 'librdkafka pass-through', mode: 'passthrough' },
  { kind: 'kafkajs-pass-through', label: 'kafkajs pass-through' },
];

const HEAVY: readonly Contender[] = [
  { kind: 'worker', label: 'worker (librdkafka)', client: 'librdkafka' },
  {
    kind: 'worker',
    label: 'worker, maxBatchSize 1',
    client: 'librdkafka',
    overrides: { batching: { maxBatchSize: 1 } },
  },
  {
    kind: 'worker',
    label: 'worker, 2 processes × 1 inference thread',
    client: 'librdkafka',
    overrides: { processes: 2, model: { inferenceThreads: 1 } },
  },
  { kind: 'python', label: 'python per-event', mode: 'per-event' },
  { kind: 'python', label: 'python per-poll', mode: 'per-poll' },
];

const WEBGPU: readonly Contender[] = [
  {
    kind: 'worker',
    label: 'worker, device cpu, 1 inference thread',
    client: 'librdkafka',
    overrides: { model: { device: 'cpu', inferenceThreads: 1 } },
  },
  {
    kind: 'worker',
    label: 'worker, device webgpu (lavapipe)',
    client: 'librdkafka',
    overrides: { model: { device: 'webgpu' } },
  },
];

const LATENCY_SHARES = [0.1, 0.5, 0.9];

interface RatioRow {
  ratio: string;
  value: number;
  /** × for ratios; ms and MB for the latency and memory rows. */
  unit: '×' | 'ms' | 'MB';
  target: string;
  met: boolean | undefined;
}

function print(text = ''): void {
  process.stdout.write(`${text}\n`);
  report.push(text);
}
const report: string[] = [];

function abort(reason: string, code: number): never {
  progress(`aborting: ${reason}`);
  killLiveWorkers();
  killLivePeers();
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
  if (!existsSync(COMPILED_WORKER)) {
    throw new Error(`${COMPILED_WORKER} is missing: run \`npm run build\` first`);
  }
  if ([...sections].some((section) => section !== 'ort')) await requireKafkaAndRedis();

  print('# Benchmarks');
  print();
  print('Figures, not assertions. Compare the ratios: they are measured side by side in this run.');
  if (settings.quick)
    print('\n**BENCH_QUICK: tiny counts to prove the harness; the figures mean nothing.**');

  let ort: OrtMeasurement[] = [];
  if (sections.has('ort')) {
    ort = await benchRawOnnx([FRAUD_MODEL, EMBEDDING_MODEL], {
      secondsPerSize: settings.ortSecondsPerSize,
      minCalls: settings.ortMinCalls,
    });
    print();
    print('## Raw ONNX Runtime: the model limit');
    print();
    print(
      'onnxruntime-node in-process, CPU, 1 intra-op thread; median of ' +
        `≥${settings.ortMinCalls} calls over ≥${settings.ortSecondsPerSize} s per batch size, ` +
        'after warm-up, one tensor reused.',
    );
    print();
    print(rawOnnxTable(ort));
  }

  const throughput: ThroughputRow[] = [];
  if (sections.has('light')) {
    const messages = Array.from({ length: settings.fraudEvents }, (_, i) =>
      jsonMessage(fraudEvent(i)),
    );
    throughput.push(
      ...(await benchThroughput(
        FRAUD_MODEL,
        'fraud-mlp',
        messages,
        LIGHT,
        settings.drainTimeoutMs,
      )),
    );
  }
  if (sections.has('heavy')) {
    const messages = Array.from({ length: settings.embeddingEvents }, (_, i) =>
      jsonMessage(embeddingEvent(i)),
    );
    throughput.push(
      ...(await benchThroughput(
        EMBEDDING_MODEL,
        'embedding-mlp',
        messages,
        HEAVY,
        settings.drainTimeoutMs,
      )),
    );
  }
  if (throughput.length > 0) {
    print();
    print('## Throughput draining a backlog');
    print();
    print(
      `fraud-mlp (light): ${fmt(settings.fraudEvents)} events; embedding-mlp (heavy): ` +
        `${fmt(settings.embeddingEvents)} events; 6 input partitions, pre-filled once and ` +
        'drained by each contender with its own group and output topic. Rate = outputs ÷ the ' +
        'span of their broker LogAppendTime. Worker: its defaults (maxBatchSize 64, maxBatchDelayMs 5, no provenance headers) unless the row says otherwise. Python peers: confluent-kafka + onnxruntime, produce, flush and commit once per poll of up to 500 (test/peers/bench_consumer.py).',
    );
    print();
    print(throughputTable(throughput));
  }

  if (sections.has('webgpu')) {
    ensureSoftwareVulkan();
    const gpu: ThroughputRow[] = [];
    for (const [model, label, events, event] of [
      [FRAUD_MODEL, 'fraud-mlp', Math.min(settings.fraudEvents, 50_000), fraudEvent],
      [EMBEDDING_MODEL, 'embedding-mlp', settings.embeddingEvents, embeddingEvent],
    ] as const) {
      const messages = Array.from({ length: events }, (_, i) => jsonMessage(event(i)));
      gpu.push(...(await benchThroughput(model, label, messages, WEBGPU, settings.drainTimeoutMs)));
    }
    print();
    print('## WebGPU on a software Vulkan device: a functional stand-in, not GPU speed');
    print();
    print(
      "The WebGPU provider on Mesa's lavapipe (a CPU-emulated Vulkan device) beside the CPU " +
        'provider, worker on librdkafka, same settings. It proves the GPU code path works ' +
        'end to end; a real GPU would be nothing like this.',
    );
    print();
    print(throughputTable(gpu));
  }

  let latency: LatencyRow[] = [];
  let visible: VisibleLatencyRow[] = [];
  const maxRate = rate(throughput, 'fraud-mlp', 'worker (librdkafka)');
  if (sections.has('latency') && Number.isFinite(maxRate)) {
    latency = await benchLatency(
      maxRate,
      // BENCH_QUICK proves the section with its middle level only.
      settings.quick ? [0.5] : LATENCY_SHARES,
      settings.latencySeconds,
      settings.drainTimeoutMs,
    );
    print();
    print('## Latency under open-loop load (fraud-mlp, worker on librdkafka)');
    print();
    print(
      `Each level sends fraud events for ${settings.latencySeconds} s at a fixed share of the ` +
        `worker's maximum rate above (${fmt(maxRate)} events/s), whatever the worker does ` +
        '(test/peers/rate_producer.py); then the same load to the batching Python peer (one ' +
        'session.run per poll, 5 ms poll wait) on its own topics. Latency = prediction ' +
        'LogAppendTime − input timestamp.',
    );
    print();
    print(latencyTable(latency));

    visible = await benchVisibleLatency(
      maxRate / 2,
      settings.latencySeconds,
      settings.drainTimeoutMs,
    );
    print();
    print('## Latency a read_committed reader sees: at-least-once and exactly-once');
    print();
    print(
      `Half the maximum rate (${fmt(maxRate / 2)} events/s) for ${settings.latencySeconds} s, ` +
        'once per delivery guarantee, each on fresh topics; a read_committed reader follows the ' +
        'output (test/peers/visible_latency.py). Latency = arrival at the reader − input ' +
        'timestamp: exactly-once outputs appear when their transaction commits (every ' +
        `${EXACTLY_ONCE_P50_BOUND_MS - 10} ms by default).`,
    );
    print();
    print(visibleLatencyTable(visible));
  }

  let memory: MemoryResult | undefined;
  if (sections.has('memory')) {
    memory = await benchMemory(settings.memoryEvents, settings.drainTimeoutMs * 4);
    print();
    print(`## Memory draining a ${fmt(settings.memoryEvents)}-event backlog (fraud-mlp)`);
    print();
    print(memoryTable(memory));
  }

  if (sections.has('cache')) {
    const cache = await benchCacheThroughput(
      settings.cacheEvents,
      settings.cacheDistinctRows,
      settings.drainTimeoutMs,
    );
    print();
    print('## Prediction cache on a repeated-input stream (embedding-mlp)');
    print();
    print(
      `${fmt(settings.cacheEvents)} events, embeddingEvent(i % ${settings.cacheDistinctRows}) ` +
        'each with its own id. "redis, warm" is a second pass over the same stream with the ' +
        'same key prefix (what a redelivery finds).',
    );
    print();
    print(cacheTable(cache));
  }

  const ratios = ratioRows(throughput, latency, visible, memory, ort);
  print();
  print('## Ratios and targets');
  print();
  print(
    markdownTable(
      ['ratio', 'value', 'target', 'met'],
      ratios.map((row) => [
        row.ratio,
        !Number.isFinite(row.value)
          ? 'n/a'
          : row.unit === '×'
            ? `${row.value.toPrecision(3)}×`
            : fmt(row.value, 1),
        row.target,
        row.met === undefined ? '' : row.met ? 'yes' : 'no',
      ]),
    ),
  );
  print();
  print(environmentLine(loadAtStart));

  mkdirSync(settings.resultsDir, { recursive: true });
  writeFileSync(
    join(settings.resultsDir, 'results.json'),
    `${JSON.stringify({ date: new Date().toISOString(), quick: settings.quick, ort, throughput, latency, visible, memory, ratios }, null, 2)}\n`,
  );
  writeFileSync(join(settings.resultsDir, 'results.md'), `${report.join('\n')}\n`);
  writeFileSync(
    join(settings.resultsDir, 'chart.png'),
    await benchChartPng(
      throughput,
      latency,
      memory,
      `kafka-inference-worker benchmark, ${new Date().toISOString().slice(0, 10)}`,
    ),
  );
  progress(
    `results in ${settings.resultsDir}; done in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`,
  );
}

function rate(rows: readonly ThroughputRow[], model: string, contender: string): number {
  return (
    rows.find((row) => row.model === model && row.contender === contender)?.eventsPerSecond ??
    Number.NaN
  );
}

function ratioRows(
  throughput: readonly ThroughputRow[],
  latency: readonly LatencyRow[],
  visible: readonly VisibleLatencyRow[],
  memory: MemoryResult | undefined,
  ort: readonly OrtMeasurement[],
): RatioRow[] {
  const light = (contender: string): number => rate(throughput, 'fraud-mlp', contender);
  const heavy = (contender: string): number => rate(throughput, 'embedding-mlp', contender);
  const atLeast = (name: string, value: number, target: number): RatioRow => ({
    ratio: name,
    value,
    unit: '×',
    target: `≥ ${target}×`,
    met: Number.isFinite(value) ? value >= target : undefined,
  });
  const info = (name: string, value: number, unit: RatioRow['unit'] = '×'): RatioRow => ({
    ratio: name,
    value,
    unit,
    target: '',
    met: undefined,
  });
  const worker = light('worker (librdkafka)');
  const half = latency.find((row) => row.share === 0.5);
  const ort64 = ort.find((row) => row.model === FRAUD_MODEL.label && row.batchSize === 64);
  const rows: RatioRow[] = [
    atLeast(
      'light: worker ÷ librdkafka pass-through',
      worker / light('librdkafka pass-through'),
      0.5,
    ),
    atLeast('light: worker ÷ python per-poll', worker / light('python per-poll'), 2),
    atLeast('light: worker ÷ python per-event', worker / light('python per-event'), 3),
    atLeast(
      'light: worker, 2 processes ÷ python per-poll',
      light('worker, 2 processes') / light('python per-poll'),
      2,
    ),
    atLeast(
      'light: worker, 2 processes ÷ librdkafka pass-through',
      light('worker, 2 processes') / light('librdkafka pass-through'),
      0.5,
    ),
    atLeast(
      'light: worker, exactly-once ÷ worker (at-least-once)',
      light('worker, exactly-once') / worker,
      0.7,
    ),
    info(
      'light: worker with six provenance headers ÷ worker (their cost)',
      light('worker, six provenance headers') / worker,
    ),
    info(
      'light: worker (kafkajs) ÷ kafkajs pass-through',
      light('worker (kafkajs)') / light('kafkajs pass-through'),
    ),
    info('light: worker (librdkafka) ÷ worker (kafkajs)', worker / light('worker (kafkajs)')),
    info(
      'light: worker ÷ worker without drift or range checks (monitoring cost)',
      worker / light('worker, no drift or range checks'),
    ),
    info(
      'light: worker with feedback ÷ worker (the cost of keeping predictions for outcomes)',
      light('worker, feedback (predictions kept in Redis)') / worker,
    ),
    info(
      'light: worker ÷ raw ORT rows/s at batch 64 (its maxBatchSize)',
      worker / (ort64?.rowsPerSecond ?? Number.NaN),
    ),
    atLeast(
      'heavy: worker ÷ python per-poll',
      heavy('worker (librdkafka)') / heavy('python per-poll'),
      1.5,
    ),
    atLeast(
      'heavy: worker, 2 processes × 1 inference thread ÷ python per-poll',
      heavy('worker, 2 processes × 1 inference thread') / heavy('python per-poll'),
      1.5,
    ),
    info(
      'heavy: worker ÷ python per-event',
      heavy('worker (librdkafka)') / heavy('python per-event'),
    ),
    atLeast(
      'heavy: batching gain (defaults ÷ maxBatchSize 1)',
      heavy('worker (librdkafka)') / heavy('worker, maxBatchSize 1'),
      5,
    ),
  ];
  const latencyBound = half ? Math.min(25, half.python.p99) : Number.NaN;
  rows.push({
    ratio: 'latency: p99 at 50% of max, ms',
    value: half?.p99 ?? Number.NaN,
    unit: 'ms',
    target: half ? `≤ 25 ms and ≤ the Python peer's p99 (${fmt(half.python.p99)} ms)` : '',
    met: half ? half.p99 <= latencyBound : undefined,
  });
  rows.push(
    info('latency: the Python per-poll peer p99 at 50% of max, ms', half?.python.p99 ?? NaN, 'ms'),
  );
  const seenBy = (guarantee: VisibleLatencyRow['guarantee']) =>
    visible.find((row) => row.guarantee === guarantee)?.p50 ?? Number.NaN;
  rows.push({
    ratio: 'latency: exactly-once p50 a read_committed reader sees, ms',
    value: seenBy('exactly-once'),
    unit: 'ms',
    target: `≤ ${EXACTLY_ONCE_P50_BOUND_MS} ms (the transaction interval + 10 ms)`,
    met: visible.length > 0 ? seenBy('exactly-once') <= EXACTLY_ONCE_P50_BOUND_MS : undefined,
  });
  rows.push(
    info(
      'latency: at-least-once p50 a read_committed reader sees, ms',
      seenBy('at-least-once'),
      'ms',
    ),
  );
  rows.push({
    ratio: 'memory: max RSS on the large backlog, MB',
    value: memory?.maxRssMb ?? Number.NaN,
    unit: 'MB',
    target: '≤ 250 MB',
    met: memory ? memory.maxRssMb <= 250 : undefined,
  });
  rows.push(info('memory: last RSS sample, MB', memory?.lastRssMb ?? Number.NaN, 'MB'));
  return rows;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    killLiveWorkers();
    killLivePeers();
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
