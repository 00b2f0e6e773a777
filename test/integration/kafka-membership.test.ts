import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { produceInBackground } from '../helpers/background-producer.js';
import {
  LOG_APPEND_TIME,
  createPipelineTopics,
  deletePipelineTopics,
  header,
  longestGapMs,
  readOutputs,
  sourceOf,
  waitForCommittedToEnd,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { validateConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/observability/logger.js';
import { WorkerMetrics } from '../../src/observability/metrics.js';
import { InferenceWorker } from '../../src/pipeline/inference-worker.js';
import { jsonMessage, produceMessages } from '../helpers/pipeline-fixture.js';
import { waitFor } from '../helpers/wait-for.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess, logLines } from '../helpers/worker-process.js';

const MODEL = 'models/fraud-mlp/1';
const RATE = 1_000;

/** Partitions a worker's log says it was given, and those it says it gave up. */
function partitionsInLog(
  output: string,
  topic: string,
): { assigned: Set<number>; revoked: Set<number> } {
  const assigned = new Set<number>();
  const revoked = new Set<number>();
  for (const line of logLines(output)) {
    const entry = line as {
      msg?: string;
      partitions?: { topic: string; partition: number }[];
      lane?: string;
    };
    if (entry.msg === 'partitions assigned') {
      for (const tp of entry.partitions ?? []) if (tp.topic === topic) assigned.add(tp.partition);
    } else if (entry.msg?.startsWith('partition revoked') && entry.lane?.startsWith(`${topic}/`)) {
      revoked.add(Number(entry.lane.slice(topic.length + 1)));
    }
  }
  return { assigned, revoked };
}

describe('librdkafka membership: static members come back at once, rebalances are cooperative', () => {
  const created: PipelineTopics[] = [];
  const workers: WorkerProcess[] = [];

  before(async () => {
    await ensureStackUp();
  });
  after(async () => {
    for (const worker of workers) await worker.kill('SIGKILL');
    for (const topics of created) await deletePipelineTopics(topics);
  });

  it('SIGKILL and restart with the same group.instance.id: predictions pause ≤ 3 s, none lost', async () => {
    const topics = await createPipelineTopics('static', 6, 'librdkafka', LOG_APPEND_TIME);
    created.push(topics);
    // The session timeout (30 s) is what a dynamic member's successor would wait for.
    const config = workerConfigFor(topics, MODEL, {
      kafka: { groupInstanceId: 'static-worker-0', sessionTimeoutMs: 30_000 },
    });
    const first = await WorkerProcess.start(config);
    workers.push(first);
    await first.waitReady();
    const count = 12 * RATE;
    const load = produceInBackground(topics.input, count, RATE, fraudEvent);
    await sleep(4_000);
    await first.kill('SIGKILL');
    const second = await WorkerProcess.start(config);
    workers.push(second);
    await load.done;

    const { predictions } = await readOutputs(topics, count);
    assert.equal(new Set(predictions.map((r) => sourceOf(r))).size, count, 'every event predicted');
    const gap = longestGapMs(predictions);
    console.log(`static membership: longest gap between predictions across the kill ${gap} ms`);
    assert.ok(gap <= 3_000, `longest gap ${gap} ms (≤ 3,000 ms expected, session timeout 30 s)`);
    await waitForCommittedToEnd(topics, 15_000);
  });

  it('a second worker joining under load leaves the first one’s remaining partitions running', async () => {
    const topics = await createPipelineTopics('coop', 6, 'librdkafka', LOG_APPEND_TIME);
    created.push(topics);
    const config = workerConfigFor(topics, MODEL);
    const first = await WorkerProcess.start(config);
    workers.push(first);
    await first.waitReady();
    const count = 10 * RATE;
    const load = produceInBackground(topics.input, count, RATE, fraudEvent);
    await sleep(3_000);
    const second = await WorkerProcess.start(config);
    workers.push(second);
    await second.waitReady();
    await load.done;

    const { predictions } = await readOutputs(topics, count);
    assert.equal(new Set(predictions.map((r) => sourceOf(r))).size, count, 'every event predicted');
    const { assigned, revoked } = partitionsInLog(first.output, topics.input);
    const kept = [...assigned].filter((p) => !revoked.has(p));
    assert.equal(assigned.size, 6, 'the first worker had every partition');
    assert.ok(revoked.size >= 2 && kept.length >= 2, `moved ${[...revoked]}, kept ${kept}`);
    const gaps = kept.map((partition) =>
      longestGapMs(predictions.filter((r) => header(r, 'source.partition') === String(partition))),
    );
    const worst = Math.max(...gaps);
    console.log(`cooperative rebalance: longest gap on the kept partitions ${worst} ms (${gaps})`);
    assert.ok(worst <= 2_000, `kept partitions paused ${worst} ms; cooperative moves only others`);
  });

  it('a main thread blocked for 15 s (session timeout 6 s) keeps its membership', async () => {
    const topics = await createPipelineTopics('blocked', 3, 'librdkafka');
    created.push(topics);
    // In this process, so that the test itself can block the worker's event loop.
    const config = validateConfig(
      workerConfigFor(topics, MODEL, {
        kafka: { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000 },
        observability: { port: 0, logLevel: 'warn' },
      }),
    );
    const metrics = new WorkerMetrics();
    const worker = new InferenceWorker(config, metrics, createLogger('warn'));
    try {
      await worker.start();
      await waitFor(() => worker.ready, { timeoutMs: 30_000, message: () => 'worker ready' });
      const events = Array.from({ length: 2_000 }, (_, i) => fraudEvent(i));
      await produceMessages(
        topics.input,
        events.slice(0, 1_000).map((e) => jsonMessage(e)),
      );
      await readOutputs(topics, 1_000);

      const blockedUntil = Date.now() + 15_000;
      while (Date.now() < blockedUntil); // a synchronous 15 s block of the worker's thread

      await produceMessages(
        topics.input,
        events.slice(1_000).map((e) => jsonMessage(e)),
      );
      const { predictions } = await readOutputs(topics, 2_000);
      assert.equal(new Set(predictions.map((r) => sourceOf(r))).size, 2_000);
      const assignments = (await metrics.rebalances.get()).values[0]?.value;
      assert.equal(assignments, 1, 'one assignment, no rebalance after the block');
      assert.equal(predictions.length, 2_000, 'no redelivery, so no duplicate');
    } finally {
      await worker.stop();
    }
  });
});
