import { randomBytes } from 'node:crypto';
import { validateConfig } from '../config/load-config.js';
import { toolConnection } from '../kafka/create-transport.js';
import { withTopicAdmin } from '../kafka/topic-admin.js';
import { followTopics } from '../kafka/topic-follower.js';
import type { Logger } from '../observability/logger.js';
import { readModelManifest } from '../model/model-manifest.js';
import { createLogger } from '../observability/logger.js';
import { WorkerMetrics } from '../observability/metrics.js';
import { InferenceWorker } from '../pipeline/inference-worker.js';
import type { PredictionRecord } from '../wire-contract.js';
import { produceEvents } from './produce-command.js';
import { sampleEvent } from './sample-events.js';
import { sampleOutcomes } from './sample-outcomes.js';

const MODEL_DIR = 'models/fraud-mlp/1';
/** Version 2 of the same model answers this share of the keys, to compare on outcomes. */
const CANARY_PERCENT = 20;
const PARTITIONS = 6;
/** One event in this many is made bad on purpose, to show the dead-letter path. */
const BAD_EVERY = 250;
/** Generated outcomes keep the model's label for this share of events. */
const OUTCOME_ACCURACY = 0.9;

/**
 * `kafka-infer demo`: on the local stack (npm run demo brings it up), create topics, start a
 * worker, produce sample events with a few bad ones, and summarise what came out.
 */
export async function demoCommand(options: {
  count?: string;
  rate?: string;
  brokers?: string;
}): Promise<number> {
  const count = Number(options.count ?? 20_000);
  const rate = options.rate ? Number(options.rate) : Infinity;
  const brokers = (options.brokers ?? '127.0.0.1:9092').split(',');
  const run = `demo-${randomBytes(3).toString('hex')}`;
  const topics = {
    input: `${run}-transactions`,
    output: `${run}-predictions`,
    dlq: `${run}-dlq`,
    outcomes: `${run}-outcomes`,
  };
  const logger = createLogger('warn');
  const connection = toolConnection({ clientId: 'kafka-infer-demo', brokers });
  await withTopicAdmin(connection, logger, (admin) =>
    admin.create([
      { topic: topics.input, partitions: PARTITIONS },
      { topic: topics.output, partitions: PARTITIONS },
      { topic: topics.dlq, partitions: 1 },
      { topic: topics.outcomes, partitions: 2 },
    ]),
  );
  say(
    `topics: ${topics.input} (${PARTITIONS} partitions) -> ${topics.output}, dead letters -> ${topics.dlq}`,
  );

  const config = validateConfig({
    kafka: {
      brokers,
      groupId: `${run}-workers`,
      inputTopics: [topics.input],
      outputTopic: topics.output,
      deadLetterTopic: topics.dlq,
    },
    model: {
      repository: 'models',
      name: 'fraud-mlp',
      version: '1',
      canary: { version: '2', percent: CANARY_PERCENT },
      device: 'auto',
    },
    batching: { maxBatchSize: 128, maxBatchDelayMs: 5 },
    // One process: its own memory keeps the predictions the outcomes are joined to.
    feedback: { topic: topics.outcomes, idField: 'id', labelField: 'label', store: 'memory' },
    observability: { port: 0, logLevel: 'warn' },
  });
  const metrics = new WorkerMetrics();
  const worker = new InferenceWorker(config, metrics, logger);
  await worker.start();
  const identity = worker.modelIdentity!;
  say(
    `worker: model ${identity.name} v${identity.version} on ${identity.provider}, v2 as a canary for ${CANARY_PERCENT}% of keys`,
  );

  const outputs = await collectOutputs(
    toolConnection({ clientId: 'kafka-infer-demo', brokers, groupId: `${run}-reader` }),
    [topics.output, topics.dlq],
    logger,
  );
  const manifest = readModelManifest(MODEL_DIR);
  const firstRequired = manifest.features.find((feature) => feature.required)?.name ?? 'amount';
  const events = function* () {
    for (let i = 0; i < count; i++) {
      const event = sampleEvent(manifest, i);
      if (i % BAD_EVERY === BAD_EVERY - 1) delete event[firstRequired];
      yield event;
    }
  };
  const produceStart = Date.now();
  await produceEvents(topics.input, events(), {
    rate,
    brokers: options.brokers,
    total: count,
  });
  const produceMs = Date.now() - produceStart;

  const deadline = Date.now() + 180_000;
  while (outputs.received() < count && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  const elapsedMs = outputs.lastAt - produceStart;
  // Generated outcomes (the model's own label, another one for 10%): the accuracy join at work.
  await produceEvents(
    topics.outcomes,
    sampleOutcomes(MODEL_DIR, count, OUTCOME_ACCURACY, 'label'),
    {
      rate: Infinity,
      brokers: options.brokers,
      quiet: true,
    },
  );
  const outcomes = await joinedOutcomes(metrics, count, Date.now() + 60_000);
  await worker.stop();
  await outputs.stop();
  await withTopicAdmin(connection, logger, (admin) => admin.delete(Object.values(topics))).catch(
    () => undefined,
  );

  say('\nsome predictions:');
  for (const record of outputs.samples) {
    say(
      `  ${record.source.topic}/${record.source.partition}@${record.source.offset}  ${record.label}  confidence ${record.confidence?.toFixed(4)}`,
    );
  }
  const latencies = outputs.latenciesMs.sort((a, b) => a - b);
  const batch = (await metrics.batchSize.get()).values;
  const batchSum = batch.find((v) => v.metricName === 'inference_batch_size_sum')?.value ?? 0;
  const batchCount = batch.find((v) => v.metricName === 'inference_batch_size_count')?.value ?? 1;
  say('\nsummary:');
  say(`  events produced      ${count} in ${(produceMs / 1000).toFixed(2)} s`);
  say(`  predictions          ${outputs.predictions}`);
  say(`  dead letters         ${outputs.deadLetters} (expected ${Math.floor(count / BAD_EVERY)})`);
  say(
    `  throughput           ${((outputs.received() / elapsedMs) * 1000).toFixed(0)} events/s end to end`,
  );
  say(
    `  latency produce→out  p50 ${percentile(latencies, 0.5)} ms, p99 ${percentile(latencies, 0.99)} ms`,
  );
  say(`  mean batch size      ${(batchSum / batchCount).toFixed(1)} rows per ONNX Runtime call`);
  const joined = outcomes.reduce((sum, row) => sum + row.correct + row.incorrect, 0);
  const unmatched = outcomes.find((row) => row.version === '')?.unmatched ?? 0;
  say(
    `  outcomes joined      ${joined} (${unmatched} unmatched: the dead-lettered events); generated truth: v1's label, another for ${Math.round((1 - OUTCOME_ACCURACY) * 100)}%`,
  );
  for (const row of outcomes.filter((row) => row.version !== '')) {
    const scored = row.correct + row.incorrect;
    say(
      `  accuracy v${row.version} (${row.role})`.padEnd(24) +
        `${((row.correct / Math.max(1, scored)) * 100).toFixed(1)}% of ${scored} outcomes`,
    );
  }
  return outputs.received() === count ? 0 : 1;
}

/** Waits until `expected` outcomes were read (joined or not), or the deadline; counts by version. */
async function joinedOutcomes(metrics: WorkerMetrics, expected: number, deadline: number) {
  for (;;) {
    const rows = new Map<
      string,
      { version: string; role: string; correct: number; incorrect: number; unmatched: number }
    >();
    let read = 0;
    for (const { labels, value } of (await metrics.feedback.get()).values) {
      const version = String(labels.version ?? '');
      const role = String(labels.role ?? '');
      const key = `${version}/${role}`;
      let row = rows.get(key);
      if (!row) rows.set(key, (row = { version, role, correct: 0, incorrect: 0, unmatched: 0 }));
      const result = labels.result;
      if (result === 'correct' || result === 'incorrect' || result === 'unmatched') {
        row[result] += value;
        read += value;
      }
    }
    if (read >= expected || Date.now() > deadline) {
      return [...rows.values()].sort((a, b) => a.version.localeCompare(b.version));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function collectOutputs(
  connection: ReturnType<typeof toolConnection>,
  topics: string[],
  logger: Logger,
) {
  const state = {
    predictions: 0,
    deadLetters: 0,
    lastAt: Date.now(),
    latenciesMs: [] as number[],
    samples: [] as PredictionRecord[],
    received: () => state.predictions + state.deadLetters,
    stop: () => Promise.resolve(),
  };
  const follower = await followTopics(
    connection,
    { topics, fromBeginning: true },
    (topic, _partition, record) => {
      state.lastAt = Date.now();
      if (topic === topics[1]) {
        state.deadLetters++;
        return;
      }
      state.predictions++;
      const prediction = JSON.parse(record.value!.toString()) as PredictionRecord;
      state.latenciesMs.push(record.timestamp - prediction.eventTimestamp);
      if (state.samples.length < 5) state.samples.push(prediction);
    },
    logger,
  );
  state.stop = follower.stop;
  return state;
}

function percentile(sorted: number[], q: number): string {
  if (sorted.length === 0) return 'n/a';
  return String(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
