/**
 * The delivery promises of the whole pipeline (a real InferenceWorker with the real model on its
 * inference threads), on the in-memory transport: milliseconds per scenario instead of a broker.
 * Every scenario accounts for each input offset with the fault suite's checker.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { validateConfig } from '../../src/config/load-config.js';
import { InMemoryKafka, type StoredRecord } from '../../src/kafka/in-memory-kafka.js';
import {
  partitionKey,
  type ConsumerTransport,
  type KafkaTransport,
} from '../../src/kafka/transport.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/observability/logger.js';
import { WorkerMetrics } from '../../src/observability/metrics.js';
import {
  InferenceWorker,
  type InferenceWorkerOptions,
} from '../../src/pipeline/inference-worker.js';
import { accountFor, type DeliveryReport } from '../helpers/delivery-check.js';
import type { ReadRecord } from '../helpers/kafka-test-helpers.js';
import { encodeRow, loadReferenceModel } from '../helpers/reference-model.js';
import { writeRuntimeFailingModel } from '../helpers/runtime-failing-model.js';
import { PREDICTION_HEADER_NAMES } from '../../src/wire-contract.js';
import { fraudEvent, mulberry32 as seededRandom } from '../helpers/sample-events.js';
import { waitFor } from '../helpers/wait-for.js';

const MODEL = 'models/fraud-mlp/1';
const PARTITIONS = 3;

function cluster(): InMemoryKafka {
  const kafka = new InMemoryKafka();
  kafka.createTopic('in', PARTITIONS);
  kafka.createTopic('out', PARTITIONS);
  kafka.createTopic('dlq', 1);
  return kafka;
}

function config(overrides: Record<string, unknown> = {}) {
  return validateConfig({
    kafka: {
      brokers: ['in-memory:9092'],
      groupId: 'group',
      inputTopics: ['in'],
      outputTopic: 'out',
      deadLetterTopic: 'dlq',
      fromBeginning: true,
      // Every provenance header, which the checker reads (the default is none; see below).
      predictionHeaders: [...PREDICTION_HEADER_NAMES],
    },
    model: { path: MODEL, device: 'cpu', inferenceThreads: 1 },
    batching: { maxBatchSize: 32, maxBatchDelayMs: 2 },
    delivery: { commitIntervalMs: 10, retryBackoffMs: 5, maxRetryBackoffMs: 40 },
    shutdown: { deadlineMs: 2_000 },
    observability: { port: 0, logLevel: 'silent' },
    ...overrides,
  });
}

async function startWorker(
  kafka: InMemoryKafka,
  options: Omit<InferenceWorkerOptions, 'transport'> & { overrides?: Record<string, unknown> } = {},
) {
  const workerConfig = config(options.overrides);
  const transport = kafka.transport(workerConfig.kafka);
  const metrics = new WorkerMetrics();
  const worker = new InferenceWorker(workerConfig, metrics, createLogger('silent'), {
    ...options,
    transport,
  });
  await worker.start();
  return { worker, transport, metrics };
}

function produceEvents(kafka: InMemoryKafka, from: number, count: number): void {
  kafka.produce(
    'in',
    Array.from({ length: count }, (_, i) => {
      const event = fraudEvent(from + i);
      return { key: event.id, value: JSON.stringify(event) };
    }),
  );
}

function asRead(record: StoredRecord): ReadRecord {
  return {
    partition: record.partition,
    offset: record.offset,
    key: record.key,
    value: record.value ?? Buffer.alloc(0),
    tombstone: record.value === null,
    headers: record.headers,
    timestamp: String(record.timestamp),
  };
}

function report(kafka: InMemoryKafka): DeliveryReport {
  return accountFor(
    kafka.records('in').map(asRead),
    kafka.records('out').map(asRead),
    kafka.records('dlq').map(asRead),
  );
}

/** Waits until the group has committed every input partition to its end. */
async function committedToEnd(kafka: InMemoryKafka, timeoutMs = 20_000): Promise<void> {
  const ends = kafka.endOffsets('in');
  const committed = () =>
    ends.map((_, partition) =>
      kafka.committed('group').get(partitionKey({ topic: 'in', partition })),
    );
  await waitFor(() => ends.every((end, partition) => committed()[partition] === end), {
    timeoutMs,
    intervalMs: 5,
    message: () => `committed ${JSON.stringify(committed())} of ends ${JSON.stringify(ends)}`,
  });
}

/**
 * 400 good events around one poison event (partition 0) whose dead letter, its whole 30 KB value,
 * is too large for the DLQ's 20 KB limit: the broker refuses it, and the worker must trim it.
 */
function withOneRefusedDeadLetter(): InMemoryKafka {
  const kafka = new InMemoryKafka();
  kafka.createTopic('in', PARTITIONS);
  kafka.createTopic('out', PARTITIONS);
  kafka.createTopic('dlq', 1, { maxMessageBytes: 20_000 });
  produceEvents(kafka, 0, 200);
  kafka.produce('in', [{ key: 'huge', value: 'x'.repeat(30_000), partition: 0 }]);
  produceEvents(kafka, 200, 200);
  return kafka;
}

/** A model repository holding fraud-mlp version `version`, written by `write`. */
function repositoryWith(version: string, write: (dir: string) => void): string {
  const repository = mkdtempSync(join(tmpdir(), 'models-'));
  mkdirSync(join(repository, 'fraud-mlp'));
  dropVersion(repository, version, write);
  return repository;
}

/** Drops a version in atomically (written aside, renamed into place), as a deploy would. */
function dropVersion(repository: string, version: string, write: (dir: string) => void): void {
  const aside = join(repository, `.incoming-${version}`);
  write(aside);
  renameSync(aside, join(repository, 'fraud-mlp', version));
}

const goodVersion = (source: string) => (dir: string) => cpSync(source, dir, { recursive: true });
/** Loads and warms up (zeros pass), then fails on every real row. */
const brokenVersion = (version: string) => (dir: string) =>
  writeRuntimeFailingModel('models/fraud-mlp/2', dir, version);

function repositoryModel(repository: string) {
  return {
    model: {
      repository,
      name: 'fraud-mlp',
      version: 'latest',
      watchIntervalMs: 50,
      device: 'cpu',
      inferenceThreads: 1,
    },
  };
}

/** Waits until metric `name` (summed over its labels) reads `value`. */
async function metricReaches(metrics: WorkerMetrics, name: string, value: number): Promise<void> {
  const read = async () => {
    const found = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
    return found?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
  };
  await waitFor(async () => (await read()) === value, {
    timeoutMs: 20_000,
    intervalMs: 10,
    message: `${name} = ${value}`,
  });
}

/** Every input predicted once, none dead-lettered, every prediction by model `version`. */
function assertAnsweredOnceBy(kafka: InMemoryKafka, version: string): void {
  const result = report(kafka);
  assert.deepEqual([result.lost.length, result.deadLettered, result.duplicates], [0, 0, 0]);
  const versions = new Set(kafka.records('out').map((r) => r.headers['model.version']?.toString()));
  assert.deepEqual([...versions], [version]);
}

/** Source offsets answered (prediction or dead letter), by input partition. */
function answered(kafka: InMemoryKafka): Map<number, Set<number>> {
  const byPartition = new Map<number, Set<number>>();
  const add = (record: StoredRecord, prefix: string) => {
    const partition = Number(record.headers[`${prefix}source.partition`]);
    const offset = Number(record.headers[`${prefix}source.offset`]);
    if (!byPartition.has(partition)) byPartition.set(partition, new Set());
    byPartition.get(partition)!.add(offset);
  };
  for (const record of kafka.records('out')) add(record, '');
  for (const record of kafka.records('dlq')) add(record, 'dlq.');
  return byPartition;
}

/** A consumer whose every commit is checked: each offset below it must be answered already. */
function commitsOnlyAnswered(kafka: InMemoryKafka, violations: string[]) {
  return (consumer: ConsumerTransport): ConsumerTransport => ({
    run: (subscription, handlers) => consumer.run(subscription, handlers),
    pauseAll: () => consumer.pauseAll(),
    disconnect: () => consumer.disconnect(),
    commit: (offsets) => {
      const done = answered(kafka);
      for (const { partition, offset } of offsets) {
        for (let o = 0; o < Number(offset); o++) {
          if (!done.get(partition)?.has(o)) violations.push(`${partition}@${o} < ${offset}`);
        }
      }
      return consumer.commit(offsets);
    },
  });
}

/**
 * Starts a worker whose every commit is checked, waits until the group committed every input to
 * its end, and stops it.
 */
async function drainToEnd(
  kafka: InMemoryKafka,
  options: Parameters<typeof startWorker>[1] = {},
): Promise<{ worker: InferenceWorker; violations: string[] }> {
  const violations: string[] = [];
  const { worker } = await startWorker(kafka, {
    wrapConsumer: commitsOnlyAnswered(kafka, violations),
    ...options,
  });
  try {
    await committedToEnd(kafka);
  } finally {
    await worker.stop();
  }
  return { worker, violations };
}

describe('delivery promises on the in-memory transport', () => {
  it('every event gets one prediction equal to the reference, in partition order; commits reach the end', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 600);
    const { violations } = await drainToEnd(kafka);
    const result = report(kafka);
    assert.deepEqual(
      { ...result, deadLettersByReason: undefined },
      {
        inputs: 600,
        predicted: 600,
        deadLettered: 0,
        lost: [],
        duplicates: 0,
        duplicatesDiffering: 0,
        orderViolations: 0,
        deadLettersByReason: undefined,
      },
    );
    assert.deepEqual(violations, [], 'no commit passes an unanswered offset');

    const reference = loadReferenceModel(MODEL);
    const inputs = kafka.records('in');
    const expected = reference.predict(
      inputs.map((record) => encodeRow(reference.json, JSON.parse(record.value!.toString()))),
    );
    const indexOf = new Map(inputs.map((record, i) => [`${record.partition}@${record.offset}`, i]));
    for (const output of kafka.records('out')) {
      const source = `${output.headers['source.partition']}@${output.headers['source.offset']}`;
      const value = JSON.parse(output.value!.toString()) as {
        topK: { label: string; probability: number }[];
      };
      const probabilities = expected[indexOf.get(source)!]!;
      for (const { label, probability } of value.topK) {
        assert.ok(Math.abs(probability - probabilities[label === 'legit' ? 0 : 1]!) < 1e-5, source);
      }
      assert.equal(output.key?.toString(), inputs[indexOf.get(source)!]!.key?.toString());
    }
  });

  it('bad events go to the dead-letter topic with their reason; their partitions move on', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 50);
    kafka.produce('in', [
      { key: 'a', value: '{not json', partition: 0 },
      { key: 'b', value: JSON.stringify({ id: 'b' }), partition: 1 },
      { key: 'c', value: JSON.stringify({ ...fraudEvent(1), amount: 'lots' }), partition: 2 },
      { key: 'd', value: JSON.stringify({ ...fraudEvent(2), amount: 1e39 }), partition: 0 },
      { key: 'e', value: null, partition: 1 },
    ]);
    produceEvents(kafka, 50, 50);
    await drainToEnd(kafka);
    const result = report(kafka);
    assert.equal(result.lost.length, 0);
    assert.equal(result.predicted, 100);
    assert.equal(result.deadLettered, 5);
    assert.equal(result.duplicates, 0);
    const reasons = Object.keys(result.deadLettersByReason).sort();
    assert.ok(reasons.length >= 3, `several reasons: ${reasons.join(', ')}`);
    for (const record of kafka.records('dlq')) {
      assert.ok(record.headers['dlq.error.message']?.length, 'each dead letter says why');
    }
  });

  it('refused produces are retried: nothing lost, nothing committed before it is written', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 300);
    kafka.faults.failSends = 6;
    kafka.faults.sendFailure = 'transient';
    const { violations } = await drainToEnd(kafka);
    assert.equal(kafka.faults.failSends, 0, 'every injected failure was met');
    const result = report(kafka);
    assert.deepEqual([result.lost.length, result.predicted, result.duplicates], [0, 300, 0]);
    assert.deepEqual(violations, []);
  });

  it('refused commits are retried until the group takes them', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 200);
    kafka.faults.failCommits = 5;
    await drainToEnd(kafka);
    assert.equal(kafka.faults.failCommits, 0);
    assert.equal(report(kafka).lost.length, 0);
  });

  it('a produce refused for good (authorization) stops the worker as fatal, committing only what is written', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 100);
    kafka.faults.failSends = 1;
    kafka.faults.sendFailure = 'authorization';
    const violations: string[] = [];
    const { worker } = await startWorker(kafka, {
      wrapConsumer: commitsOnlyAnswered(kafka, violations),
    });
    await worker.stopped;
    assert.ok(worker.failure, 'the worker stopped on a failure');
    assert.match(String(worker.failure.message), /authorization/);
    assert.deepEqual(violations, []);
  });

  it('a rebalance mid-stream moves partitions: none lost, redeliveries answered the same', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 400);
    const first = await startWorker(kafka);
    const second = await startWorker(kafka);
    try {
      produceEvents(kafka, 400, 400);
      await kafka.rebalance('group');
      produceEvents(kafka, 800, 200);
      await committedToEnd(kafka);
    } finally {
      await Promise.all([first.worker.stop(), second.worker.stop()]);
    }
    const result = report(kafka);
    assert.equal(result.lost.length, 0);
    assert.equal(result.predicted, 1_000);
    assert.equal(result.duplicatesDiffering, 0, 'a redelivered event gets the same answer');
    assert.equal(result.orderViolations, 0);
  });

  it('kill -9 mid-stream: the next member resumes at the committed offsets; nothing lost', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 3_000);
    const doomed = await startWorker(kafka);
    await waitFor(() => kafka.records('out').length >= 300, { timeoutMs: 20_000, intervalMs: 2 });
    await doomed.transport.crash();
    const committedAtCrash = [...kafka.committed('group').values()].reduce((a, b) => a + b, 0);
    const writtenAtCrash = kafka.records('out').length;
    const survivor = await startWorker(kafka);
    try {
      await committedToEnd(kafka);
    } finally {
      await Promise.all([survivor.worker.stop(), doomed.worker.stop()]);
    }
    const result = report(kafka);
    assert.equal(result.lost.length, 0);
    assert.equal(result.predicted, 3_000);
    assert.equal(result.duplicatesDiffering, 0);
    assert.ok(
      result.duplicates <= writtenAtCrash - committedAtCrash,
      `duplicates (${result.duplicates}) only from the uncommitted window (${writtenAtCrash - committedAtCrash})`,
    );
  });

  it('a graceful stop drains what it took and commits all of it', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 2_000);
    const { worker } = await startWorker(kafka);
    await waitFor(() => kafka.records('out').length >= 200, { timeoutMs: 20_000, intervalMs: 2 });
    await worker.stop();
    assert.equal(worker.failure, undefined);
    const done = answered(kafka);
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const committed = kafka.committed('group').get(partitionKey({ topic: 'in', partition })) ?? 0;
      let prefix = 0;
      while (done.get(partition)?.has(prefix)) prefix++;
      assert.equal(committed, prefix, `partition ${partition}: every answered offset is committed`);
    }
    assert.equal(report(kafka).duplicates, 0);
  });

  it('a stop whose drain outlasts shutdown.deadlineMs leaves by the deadline; the rest is redelivered', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 600);
    const violations: string[] = [];
    const slow = {
      model: { path: MODEL, device: 'cpu', inferenceThreads: 1, debugInferenceDelayMs: 150 },
      batching: { maxBatchSize: 8, maxBatchDelayMs: 2 },
      shutdown: { deadlineMs: 800 },
    };
    const { worker } = await startWorker(kafka, {
      wrapConsumer: commitsOnlyAnswered(kafka, violations),
      overrides: slow,
    });
    await waitFor(() => kafka.records('out').length >= 8, { timeoutMs: 20_000, intervalMs: 2 });
    const stopAt = performance.now();
    await worker.stop();
    const stoppedInMs = performance.now() - stopAt;
    // The deadline bounds the stop; what it could not drain stays uncommitted.
    assert.ok(stoppedInMs < 800 + 1_000, `stopped in ${Math.round(stoppedInMs)} ms`);
    assert.ok(report(kafka).lost.length > 0, 'the drain was cut short: some inputs wait');
    assert.deepEqual(violations, [], 'nothing committed past what was answered');
    await drainToEnd(kafka);
    const result = report(kafka);
    assert.deepEqual([result.lost.length, result.predicted], [0, 600]);
    assert.equal(result.duplicatesDiffering, 0);
  });

  it('an output the broker refuses is split out and dead-lettered trimmed; the rest once, in order', async () => {
    const kafka = withOneRefusedDeadLetter();
    const { violations } = await drainToEnd(kafka);
    const result = report(kafka);
    assert.deepEqual(
      [result.lost.length, result.predicted, result.deadLettered, result.duplicates],
      [0, 400, 1, 0],
    );
    assert.equal(result.orderViolations, 0);
    const [letter] = kafka.records('dlq');
    assert.ok(letter!.value!.length < 20_000, 'trimmed');
    assert.equal(letter!.headers['dlq.original.size']?.toString(), '30000');
    assert.deepEqual(violations, []);
  });

  it('backpressure: in flight never exceeds the per-partition and per-worker caps', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 900);
    const caps = { maxInFlightPerPartition: 40, maxInFlightTotal: 60 };
    const over: string[] = [];
    const taken = new Map<number, number>();
    /** After each fetched batch: what the worker took minus what is written stays under the caps. */
    const checkCaps = (consumer: ConsumerTransport): ConsumerTransport => ({
      pauseAll: () => consumer.pauseAll(),
      disconnect: () => consumer.disconnect(),
      commit: (offsets) => consumer.commit(offsets),
      run: (subscription, handlers) =>
        consumer.run(subscription, {
          ...handlers,
          onBatch: async (batch) => {
            const count = await handlers.onBatch(batch);
            if (count > 0) {
              const first = Number(batch.records[0]!.offset);
              taken.set(batch.partition, first + count);
            }
            const written = answered(kafka);
            let total = 0;
            for (const [partition, upTo] of taken) {
              const inFlight = upTo - (written.get(partition)?.size ?? 0);
              total += inFlight;
              if (inFlight > caps.maxInFlightPerPartition) over.push(`p${partition}: ${inFlight}`);
            }
            if (total > caps.maxInFlightTotal) over.push(`total: ${total}`);
            return count;
          },
        }),
    });
    const { worker } = await startWorker(kafka, {
      wrapConsumer: checkCaps,
      overrides: {
        model: { path: MODEL, device: 'cpu', inferenceThreads: 1, debugInferenceDelayMs: 5 },
        flowControl: caps,
      },
    });
    try {
      await committedToEnd(kafka);
    } finally {
      await worker.stop();
    }
    assert.deepEqual(over, []);
    assert.ok(taken.size === PARTITIONS, 'every partition was fetched');
    const result = report(kafka);
    assert.deepEqual([result.lost.length, result.predicted, result.duplicates], [0, 900, 0]);
  });

  it('a missing output topic stops start-up, naming it', async () => {
    const kafka = new InMemoryKafka();
    kafka.createTopic('in', 1);
    kafka.createTopic('dlq', 1);
    const workerConfig = config();
    const worker = new InferenceWorker(workerConfig, new WorkerMetrics(), createLogger('silent'), {
      transport: kafka.transport(workerConfig.kafka),
    });
    await assert.rejects(worker.start(), /output topic\(s\) out do not exist/);
    await worker.stop();
  });

  it('a hot-swapped version failing on every row is rolled back: no dead letter, none lost', async () => {
    const kafka = cluster();
    const repository = repositoryWith('1', goodVersion('models/fraud-mlp/1'));
    const { worker, metrics } = await startWorker(kafka, {
      overrides: repositoryModel(repository),
    });
    try {
      produceEvents(kafka, 0, 300);
      await waitFor(() => kafka.records('out').length >= 100, { timeoutMs: 20_000, intervalMs: 2 });
      dropVersion(repository, '2', brokenVersion('2'));
      // Events keep coming; those routed to version 2 once it is swapped in fault.
      const feeding = setInterval(() => produceEvents(kafka, kafka.records('in').length, 20), 5);
      try {
        await metricReaches(metrics, 'inference_model_rollbacks_total', 1);
      } finally {
        clearInterval(feeding);
      }
      await committedToEnd(kafka);
    } finally {
      await worker.stop();
    }
    assertAnsweredOnceBy(kafka, '1');
  });

  it('the only version failing holds intake (not ready, no dead letter) until a good one arrives', async () => {
    const kafka = cluster();
    const repository = repositoryWith('1', brokenVersion('1'));
    const { worker, metrics } = await startWorker(kafka, {
      overrides: repositoryModel(repository),
    });
    try {
      // Every event lacks day_of_week: however often a fault prepares it again, it counts once.
      kafka.produce(
        'in',
        Array.from({ length: 200 }, (_, i) => {
          const event: Record<string, unknown> = { ...fraudEvent(i) };
          delete event.day_of_week;
          return { key: String(event.id), value: JSON.stringify(event) };
        }),
      );
      await metricReaches(metrics, 'inference_model_circuit_open', 1);
      assert.equal(worker.ready, false, 'not ready while the model fails');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(
        kafka.records('out').length + kafka.records('dlq').length,
        0,
        'held, not dropped',
      );
      dropVersion(repository, '2', goodVersion('models/fraud-mlp/2'));
      await committedToEnd(kafka);
      assert.equal(worker.ready, true, 'ready again');
      assert.equal(
        await metricValue(metrics, 'inference_feature_defaulted_total', { feature: 'day_of_week' }),
        200,
        'each event defaulted once, though prepared again after each fault',
      );
    } finally {
      await worker.stop();
    }
    assertAnsweredOnceBy(kafka, '2');
  });

  it('by default a prediction carries no provenance header: its value says the source and the model', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 30);
    const base = config();
    const { worker } = await startWorker(kafka, {
      overrides: { kafka: { ...base.kafka, predictionHeaders: undefined } },
    });
    try {
      await committedToEnd(kafka);
    } finally {
      await worker.stop();
    }
    const outputs = kafka.records('out');
    assert.equal(outputs.length, 30);
    for (const output of outputs) {
      for (const name of PREDICTION_HEADER_NAMES)
        assert.equal(output.headers[name], undefined, name);
      const value = JSON.parse(output.value!.toString()) as {
        model: string;
        modelVersion: string;
        source: { topic: string; partition: number; offset: string };
      };
      assert.equal(value.model, 'fraud-mlp');
      assert.equal(value.modelVersion, '1');
      assert.equal(value.source.topic, 'in');
      const input = kafka
        .records('in')
        .find(
          (r) => r.partition === value.source.partition && String(r.offset) === value.source.offset,
        );
      assert.equal(output.key?.toString(), input?.key?.toString(), 'the source names its input');
    }
  });

  it('any request headers (reply.topic, correlation.id, traceparent): every event answered, replies only where allowed', async () => {
    const kafka = cluster();
    kafka.createTopic('replies-a', 1);
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));
    const headers = fc.record(
      {
        'reply.topic': fc.oneof(
          fc.constantFrom('replies-a', 'replies-missing', 'elsewhere', ''),
          fc.string({ maxLength: 30 }).map((text) => Buffer.from(text)),
          bytes,
        ),
        'correlation.id': fc.oneof(
          fc.string({ maxLength: 40 }).map((t) => Buffer.from(t)),
          bytes,
        ),
        traceparent: fc.oneof(
          fc.constant(Buffer.from('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')),
          fc.string({ maxLength: 60 }).map((t) => Buffer.from(t)),
          bytes,
        ),
      },
      { requiredKeys: [] },
    );
    const samples = fc.sample(headers, { numRuns: 200, seed });
    kafka.produce(
      'in',
      samples.map((sample, i) => {
        const event = fraudEvent(i);
        return { key: event.id, value: JSON.stringify(event), headers: sample };
      }),
    );
    const { worker } = await startWorker(kafka, {
      overrides: { replies: { allowedTopics: 'replies-.*' } },
    });
    try {
      await committedToEnd(kafka);
      assert.equal(worker.failure, undefined, `seed ${seed}`);
      assert.equal(worker.status, 'running', `seed ${seed}: still running`);
    } finally {
      await worker.stop();
    }
    const result = report(kafka);
    assert.deepEqual([result.lost.length, result.duplicates], [0, 0], `seed ${seed}`);
    const byKey = new Map(kafka.records('in').map((r) => [r.key!.toString(), r]));
    const replies = kafka.records('replies-a');
    const wanted = kafka
      .records('in')
      .filter((r) => r.headers['reply.topic']?.toString() === 'replies-a');
    assert.equal(replies.length, wanted.length, `seed ${seed}: one reply per request to replies-a`);
    for (const reply of replies) {
      const request = byKey.get(reply.key!.toString())!;
      assert.deepEqual(
        reply.headers['correlation.id'],
        request.headers['correlation.id'],
        `seed ${seed}: the correlation id comes back byte for byte`,
      );
    }
    const refused = kafka
      .records('dlq')
      .filter((r) => r.headers['dlq.error.reason']?.toString() === 'reply-not-allowed');
    const notAllowed = kafka.records('in').filter((r) => {
      const topic = r.headers['reply.topic']?.toString();
      return topic !== undefined && !/^(?:replies-.*)$/.test(topic);
    });
    assert.equal(
      refused.length,
      notAllowed.length,
      `seed ${seed}: a disallowed reply topic is poison`,
    );
  });
});

describe('exactly-once on the in-memory transport', () => {
  const exactlyOnce = (extra: Record<string, unknown> = {}) => ({
    delivery: {
      guarantee: 'exactly-once',
      transactionIntervalMs: 20,
      retryBackoffMs: 5,
      maxRetryBackoffMs: 40,
      ...extra,
    },
  });
  /** Offsets go only through transactions: a consumer commit would be a bug. */
  const noConsumerCommits = (consumer: ConsumerTransport): ConsumerTransport => ({
    run: (subscription, handlers) => consumer.run(subscription, handlers),
    pauseAll: () => consumer.pauseAll(),
    disconnect: () => consumer.disconnect(),
    commit: () => Promise.reject(new Error('exactly-once never commits through the consumer')),
  });
  /** One exactly-once worker until the group committed every input to its end. */
  const runUntilCommitted = async (
    kafka: InMemoryKafka,
    options: Parameters<typeof startWorker>[1] = {},
  ) => {
    const started = await startWorker(kafka, { overrides: exactlyOnce(), ...options });
    try {
      await committedToEnd(kafka);
    } finally {
      await started.worker.stop();
    }
    assert.equal(started.worker.failure, undefined);
    return started;
  };
  const transactionsEnded = async (metrics: WorkerMetrics, result: 'committed' | 'aborted') => {
    const text = await metrics.registry.getSingleMetricAsString('inference_transactions_total');
    const line = text.split('\n').find((l) => l.includes(`result="${result}"`));
    return Number(line?.split(' ')[1] ?? 0);
  };
  const exactlyOnePerInput = (kafka: InMemoryKafka, inputs: number) => {
    const result = report(kafka);
    assert.deepEqual(
      {
        lost: result.lost.length,
        answered: result.predicted + result.deadLettered,
        duplicates: result.duplicates,
        orderViolations: result.orderViolations,
      },
      { lost: 0, answered: inputs, duplicates: 0, orderViolations: 0 },
    );
    return result;
  };

  it('outputs and offsets commit together: one prediction per event, in order, no consumer commit', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 600);
    kafka.produce('in', [{ key: 'bad', value: '{not json', partition: 1 }]);
    const { metrics } = await runUntilCommitted(kafka, { wrapConsumer: noConsumerCommits });
    const result = exactlyOnePerInput(kafka, 601);
    assert.equal(result.deadLettered, 1, 'a poison event: exactly one dead letter');
    assert.ok((await transactionsEnded(metrics, 'committed')) > 0, 'transactions committed');
  });

  it('kill -9 mid-stream: what the dead worker had not committed never shows; no duplicate', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 3_000);
    const doomed = await startWorker(kafka, { overrides: exactlyOnce() });
    await waitFor(() => kafka.records('out').length >= 300, { timeoutMs: 20_000, intervalMs: 2 });
    await doomed.transport.crash();
    const survivor = await startWorker(kafka, { overrides: exactlyOnce() });
    try {
      await committedToEnd(kafka);
    } finally {
      await Promise.all([survivor.worker.stop(), doomed.worker.stop()]);
    }
    exactlyOnePerInput(kafka, 3_000);
  });

  it('failed sends and refused commits abort the transaction; its events are sent again, once', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 1_000);
    kafka.faults.failSends = 4;
    kafka.faults.sendFailure = 'transient';
    kafka.faults.failTransactionCommits = 3;
    const { metrics } = await runUntilCommitted(kafka);
    assert.deepEqual([kafka.faults.failSends, kafka.faults.failTransactionCommits], [0, 0]);
    exactlyOnePerInput(kafka, 1_000);
    // Each refused commit aborts one transaction, and the failed sends at least one more.
    assert.ok((await transactionsEnded(metrics, 'aborted')) >= 4);
  });

  it('an output the broker refuses is found alone and dead-lettered trimmed; the rest once', async () => {
    const kafka = withOneRefusedDeadLetter();
    await runUntilCommitted(kafka);
    const result = exactlyOnePerInput(kafka, 401);
    assert.equal(result.deadLettered, 1);
    const [letter] = kafka.records('dlq');
    assert.ok(letter!.value!.length < 20_000, 'trimmed');
  });

  it('a rebalance mid-stream commits or aborts the open transaction first: no duplicate', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 400);
    const first = await startWorker(kafka, { overrides: exactlyOnce() });
    const second = await startWorker(kafka, { overrides: exactlyOnce() });
    try {
      produceEvents(kafka, 400, 400);
      await kafka.rebalance('group');
      produceEvents(kafka, 800, 200);
      await committedToEnd(kafka);
    } finally {
      await Promise.all([first.worker.stop(), second.worker.stop()]);
    }
    exactlyOnePerInput(kafka, 1_000);
  });

  it('a zombie (its partitions moved on while it was stopped) commits nothing: no duplicate', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 1_500);
    const zombie = await startWorker(kafka, { overrides: exactlyOnce() });
    await waitFor(() => kafka.records('out').length >= 200, { timeoutMs: 20_000, intervalMs: 2 });
    await zombie.transport.expel();
    const other = await startWorker(kafka, { overrides: exactlyOnce() });
    try {
      produceEvents(kafka, 1_500, 500);
      await committedToEnd(kafka);
      await zombie.transport.rejoin();
      produceEvents(kafka, 2_000, 500);
      await committedToEnd(kafka);
    } finally {
      await Promise.all([other.worker.stop(), zombie.worker.stop()]);
    }
    exactlyOnePerInput(kafka, 2_500);
    assert.ok(
      (await transactionsEnded(zombie.metrics, 'aborted')) > 0,
      'the zombie tried, and was refused',
    );
  });

  it('a newer producer with the same transactional id fences the older: it stops, nothing twice', async () => {
    const kafka = cluster();
    produceEvents(kafka, 0, 1_000);
    const overrides = exactlyOnce({ transactionalId: 'worker-a' });
    const older = await startWorker(kafka, { overrides });
    await waitFor(() => kafka.records('out').length >= 100, { timeoutMs: 20_000, intervalMs: 2 });
    const newer = await startWorker(kafka, { overrides });
    try {
      // The older one learns at its next transaction, on the partitions it still has.
      produceEvents(kafka, 1_000, 200);
      await older.worker.stopped;
      assert.match(String(older.worker.failure?.message), /fenced/);
      produceEvents(kafka, 1_200, 200);
      await committedToEnd(kafka);
    } finally {
      await Promise.all([newer.worker.stop(), older.worker.stop()]);
    }
    assert.equal(newer.worker.failure, undefined);
    exactlyOnePerInput(kafka, 1_400);
    const fenced = await older.metrics.registry.getSingleMetricAsString(
      'inference_producer_fenced_total',
    );
    assert.match(fenced, /inference_producer_fenced_total 1/);
  });

  it('replies go out once their outputs commit, one per request, with the correlation id', async () => {
    const kafka = cluster();
    kafka.createTopic('replies-a', 1);
    kafka.produce(
      'in',
      Array.from({ length: 60 }, (_, i) => {
        const event = fraudEvent(i);
        const headers = { 'reply.topic': 'replies-a', 'correlation.id': `request-${i}` };
        return { key: event.id, value: JSON.stringify(event), headers };
      }),
    );
    const { worker } = await startWorker(kafka, {
      overrides: { ...exactlyOnce(), replies: { allowedTopics: 'replies-.*' } },
    });
    try {
      await committedToEnd(kafka);
      await waitFor(() => kafka.records('replies-a').length >= 60, {
        timeoutMs: 10_000,
        intervalMs: 5,
        message: () => `60 replies (${kafka.records('replies-a').length})`,
      });
    } finally {
      await worker.stop();
    }
    exactlyOnePerInput(kafka, 60);
    const ids = kafka.records('replies-a').map((r) => r.headers['correlation.id']?.toString());
    assert.equal(new Set(ids).size, 60, 'one reply per request');
  });

  it('refuses a transport without transactions at start-up, naming the key', async () => {
    const kafka = cluster();
    const workerConfig = config(exactlyOnce());
    const inner = kafka.transport(workerConfig.kafka);
    const transport: KafkaTransport = {
      name: 'kafkajs',
      consumer: () => inner.consumer(),
      producer: () => inner.producer(),
      admin: () => inner.admin(),
    };
    const worker = new InferenceWorker(workerConfig, new WorkerMetrics(), createLogger('silent'), {
      transport,
    });
    await assert.rejects(
      worker.start(),
      (error: unknown) => error instanceof ConfigError && error.key === 'delivery.guarantee',
    );
    await worker.stop();
  });
});

/** Summed over the series whose labels include `labels`; a histogram's _count by its name. */
async function metricValue(
  metrics: WorkerMetrics,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const base = name.replace(/_count$/, '');
  const found = (await metrics.registry.getMetricsAsJSON()).find(
    (m) => m.name === name || m.name === base,
  );
  const series = found?.values.filter(
    (v) =>
      (found.name === name || (v as { metricName?: string }).metricName === name) &&
      Object.entries(labels).every(([key, value]) => v.labels[key] === value),
  );
  return series?.reduce((sum, v) => sum + v.value, 0) ?? 0;
}

describe('model quality on the in-memory transport', () => {
  /** Each prediction's label, by its source partition and offset. */
  const bySource = (kafka: InMemoryKafka, topic: string) =>
    new Map(
      kafka.records(topic).map((record) => {
        const body = JSON.parse(record.value!.toString()) as {
          label: string;
          source: { partition: number; offset: string };
        };
        return [`${body.source.partition}/${body.source.offset}`, body.label];
      }),
    );

  it('shadow agreement equals a comparison of the two topics; data quality counts each event once', async () => {
    const kafka = cluster();
    kafka.createTopic('shadow', 1);
    const repository = repositoryWith('1', goodVersion('models/fraud-mlp/1'));
    dropVersion(repository, '2', goodVersion('models/fraud-mlp/2'));
    let missingDay = 0;
    let hourOutOfRange = 0;
    kafka.produce(
      'in',
      Array.from({ length: 600 }, (_, i) => {
        const event: Record<string, unknown> = { ...fraudEvent(i) };
        if (i % 5 === 0) {
          delete event.day_of_week;
          missingDay++;
        }
        if (i % 7 === 0) {
          event.hour_of_day = 25;
          hourOutOfRange++;
        }
        return { key: String(event.id), value: JSON.stringify(event) };
      }),
    );
    const { worker, metrics } = await startWorker(kafka, {
      overrides: {
        model: {
          ...repositoryModel(repository).model,
          version: '1',
          shadow: { version: '2', topic: 'shadow' },
        },
      },
    });
    try {
      await committedToEnd(kafka);
    } finally {
      await worker.stop();
    }
    assertAnsweredOnceBy(kafka, '1');
    const primary = bySource(kafka, 'out');
    const shadow = bySource(kafka, 'shadow');
    assert.equal(shadow.size, 600, 'the shadow answered every event');
    let agree = 0;
    for (const [source, label] of primary) if (shadow.get(source) === label) agree++;
    const labels = { model: 'fraud-mlp', primary: '1', shadow: '2' };
    assert.equal(
      await metricValue(metrics, 'inference_shadow_agreement_total', {
        ...labels,
        result: 'agree',
      }),
      agree,
    );
    assert.equal(
      await metricValue(metrics, 'inference_shadow_agreement_total', {
        ...labels,
        result: 'disagree',
      }),
      600 - agree,
    );
    assert.ok(agree > 0 && agree < 600, `versions 1 and 2 differ on some events (${agree} agree)`);
    const quality = (name: string, feature: string) =>
      metricValue(metrics, name, { model: 'fraud-mlp', feature });
    assert.equal(await quality('inference_feature_defaulted_total', 'day_of_week'), missingDay);
    assert.equal(await quality('inference_feature_defaulted_total', 'amount'), 0);
    assert.equal(
      await quality('inference_feature_out_of_range_total', 'hour_of_day'),
      hourOutOfRange,
    );
    assert.equal(await quality('inference_feature_out_of_range_total', 'merchant_risk'), 0);
    const psi = (name: string, labelsOf: Record<string, string>) =>
      metricValue(metrics, name, { model: 'fraud-mlp', version: '1', ...labelsOf });
    const channelPsi = await psi('inference_feature_drift_psi', {
      feature: 'channel',
      kind: 'category',
    });
    assert.ok(channelPsi > 0 && channelPsi < 0.1, `channel shares as in training: ${channelPsi}`);
    const outputPsi = await psi('inference_output_drift_psi', {});
    assert.ok(outputPsi > 0 && outputPsi < 0.1, `answers as on the reference: ${outputPsi}`);
  });
});

describe('outcomes joined to predictions on the in-memory transport', () => {
  it('scores every joined outcome once per version, as an independent reading of the topics says; a worse canary is withdrawn', async () => {
    const kafka = cluster();
    kafka.createTopic('outcomes', 2); // another partition layout than the events'
    const repository = repositoryWith('1', goodVersion('models/fraud-mlp/1'));
    dropVersion(repository, '2', goodVersion('models/fraud-mlp/2'));
    const events = Array.from({ length: 800 }, (_, i) => fraudEvent(i));
    // The truth, independent of the worker: what version 1 answers, by the float64 reference.
    const reference = loadReferenceModel('models/fraud-mlp/1');
    const truth = reference
      .predict(events.map((event) => encodeRow(reference.json, { ...event })))
      .map((row) => (row[0]! >= row[1]! ? 'legit' : 'fraud'));
    kafka.produce(
      'in',
      events.map((event) => ({ key: String(event.id), value: JSON.stringify(event) })),
    );
    const { worker, metrics } = await startWorker(kafka, {
      feedbackTransport: kafka.transport({ groupId: 'group.feedback' }),
      overrides: {
        model: {
          ...repositoryModel(repository).model,
          version: '1',
          canary: { version: '2', percent: 50 },
        },
        feedback: {
          topic: 'outcomes',
          idField: 'id',
          labelField: 'is_fraud',
          canary: { margin: 0.05, minOutcomes: 100, withdraw: true },
        },
      },
    });
    try {
      await committedToEnd(kafka);
      // Outcomes for 80% of the events, shuffled, keyed otherwise than the events; the truth as a
      // label name or as its index; one event's outcome twice; outcomes of unknown events; and
      // outcomes the join cannot use.
      const random = seededRandom(7);
      const chosen = events.map((_, i) => i).filter(() => random() < 0.8);
      chosen.sort(() => random() - 0.5);
      const outcome = (i: number) => ({
        key: `outcome-${i}`,
        value: JSON.stringify({
          id: events[i]!.id,
          is_fraud: i % 2 ? truth[i] : truth[i] === 'legit' ? 0 : 1,
        }),
      });
      const malformed = [
        '{"is_fraud":"legit"}',
        '{"id":{"nested":1},"is_fraud":"legit"}',
        `{"id":"${String(events[0]!.id)}","is_fraud":"maybe"}`,
        `{"id":"${String(events[0]!.id)}","is_fraud":7}`,
        'not json',
      ];
      kafka.produce('outcomes', [
        ...chosen.map(outcome),
        outcome(chosen[0]!), // a second outcome for one event: counted once
        ...Array.from({ length: 6 }, (_, i) => ({
          key: null,
          value: JSON.stringify({ id: `unknown-${i}`, is_fraud: 'legit' }),
        })),
        ...malformed.map((value) => ({ key: null, value })),
      ]);
      const ends = kafka.endOffsets('outcomes');
      await waitFor(
        () =>
          ends.every(
            (end, partition) =>
              kafka
                .committed('group.feedback')
                .get(partitionKey({ topic: 'outcomes', partition })) === end,
          ),
        {
          timeoutMs: 20_000,
          intervalMs: 10,
          message: 'the feedback group committed every outcome',
        },
      );

      // An independent reading of the prediction topic: which version answered each event, how.
      const answers = new Map(
        kafka.records('out').map((record) => {
          const body = JSON.parse(record.value!.toString()) as {
            label: string;
            modelVersion: string;
          };
          return [record.key!.toString(), body];
        }),
      );
      const expected = new Map<string, number>();
      for (const i of chosen) {
        const answer = answers.get(String(events[i]!.id))!;
        const role = answer.modelVersion === '2' ? 'canary' : 'primary';
        const result = answer.label === truth[i] ? 'correct' : 'incorrect';
        const key = `${answer.modelVersion}/${role}/${result}`;
        expected.set(key, (expected.get(key) ?? 0) + 1);
      }
      for (const version of ['1', '2']) {
        const role = version === '2' ? 'canary' : 'primary';
        for (const result of ['correct', 'incorrect']) {
          assert.equal(
            await metricValue(metrics, 'inference_feedback_total', {
              model: 'fraud-mlp',
              version,
              role,
              result,
            }),
            expected.get(`${version}/${role}/${result}`) ?? 0,
            `${version} ${role} ${result}`,
          );
        }
      }
      assert.equal(
        expected.get('1/primary/incorrect') ?? 0,
        0,
        'the truth is what version 1 answers',
      );
      assert.ok((expected.get('2/canary/incorrect') ?? 0) > 10, 'version 2 is worse');
      assert.equal(
        await metricValue(metrics, 'inference_feedback_total', { result: 'unmatched' }),
        6,
      );
      assert.equal(
        await metricValue(metrics, 'inference_feedback_total', { result: 'duplicate' }),
        1,
      );
      const confusion = await metricValue(metrics, 'inference_feedback_confusion_total', {});
      assert.equal(confusion, chosen.length);
      const brierCount = await metricValue(metrics, 'inference_feedback_brier_score_count', {});
      assert.equal(brierCount, chosen.length);
      const deadLetters = kafka.records('dlq');
      assert.equal(deadLetters.length, malformed.length);
      const stages = deadLetters.map((r) => r.headers['dlq.error.stage']?.toString()).sort();
      assert.deepEqual(stages, ['decode', 'feedback', 'feedback', 'feedback', 'feedback']);
      for (const record of deadLetters) {
        assert.equal(record.headers['dlq.source.topic']?.toString(), 'outcomes');
        assert.ok(malformed.includes(record.value!.toString()));
      }
      assert.equal(
        await metricValue(metrics, 'inference_canary_worse', { canary: '2', primary: '1' }),
        1,
      );
      assert.equal(
        await metricValue(metrics, 'inference_model_rollbacks_total', { from: '2', to: '1' }),
        1,
        'the canary was withdrawn',
      );
      // Withdrawn: later events are all answered by the primary.
      const laterEvents = Array.from({ length: 100 }, (_, i) => fraudEvent(1_000 + i));
      const laterIds = new Set(laterEvents.map((event) => String(event.id)));
      kafka.produce(
        'in',
        laterEvents.map((event) => ({ key: String(event.id), value: JSON.stringify(event) })),
      );
      await committedToEnd(kafka);
      const later = kafka.records('out').filter((r) => laterIds.has(r.key!.toString()));
      assert.equal(later.length, 100);
      assert.deepEqual(
        [
          ...new Set(
            later.map(
              (r) => (JSON.parse(r.value!.toString()) as { modelVersion: string }).modelVersion,
            ),
          ),
        ],
        ['1'],
      );
    } finally {
      await worker.stop();
    }
  });
});
