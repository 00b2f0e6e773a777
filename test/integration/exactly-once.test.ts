/**
 * delivery: exactly-once on the real broker, read back read_committed (the checker's reader):
 * kill -9 cycles under load with a second member running `processes: 2`, and a zombie (SIGSTOP
 * past its session timeout while the other member takes its partitions, then SIGCONT). Each
 * input offset must have exactly one prediction or one dead letter: no loss, no duplicate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { produceInBackground } from '../helpers/background-producer.js';
import { checkDelivery } from '../helpers/delivery-check.js';
import { faultScale, recordFaultFigures } from '../helpers/fault-figures.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  produceMessages,
  waitForCommittedToEnd,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const MODEL = 'models/fraud-mlp/1';
const PARTITIONS = 6;
/** Fast member expiry, so that the group notices a dead or stopped member within seconds. */
const FAST_EXPIRY = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 };

function exactlyOnceConfig(topics: PipelineTopics, instance: string, processes = 1) {
  return workerConfigFor(topics, MODEL, {
    processes,
    // A stable instance id gives a stable transactional id: a restarted member fences its
    // predecessor and aborts the transaction it left open at once.
    kafka: { ...FAST_EXPIRY, groupInstanceId: instance },
    model: { debugInferenceDelayMs: 5 },
    delivery: { guarantee: 'exactly-once', transactionIntervalMs: 100 },
  });
}

function assertExactlyOnce(report: Awaited<ReturnType<typeof checkDelivery>>, inputs: number) {
  assert.deepEqual(
    {
      inputs: report.inputs,
      answered: report.predicted + report.deadLettered,
      lost: report.lost.slice(0, 10),
      duplicates: report.duplicates,
      orderViolations: report.orderViolations,
    },
    { inputs, answered: inputs, lost: [], duplicates: 0, orderViolations: 0 },
  );
}

describe('exactly-once: kill -9 cycles, processes: 2, a zombie; read_committed sees one answer per input', () => {
  const started: WorkerProcess[] = [];
  const topicsUsed: PipelineTopics[] = [];
  const start = async (config: Record<string, unknown>) => {
    const worker = await WorkerProcess.start(config);
    started.push(worker);
    return worker;
  };

  before(async () => {
    await ensureStackUp();
  });
  after(async () => {
    for (const worker of started) {
      worker.child.kill('SIGCONT');
      await worker.kill('SIGKILL');
    }
    for (const topics of topicsUsed) await deletePipelineTopics(topics);
  });

  const KILLS = faultScale(2, 20);
  const EVENTS = faultScale(9_000, 60_000);
  it(`${KILLS} kill -9s of one member beside a processes: 2 member: no loss, no duplicate, one dead letter per poison event`, async () => {
    const topics = await createPipelineTopics('eos-kill', PARTITIONS);
    topicsUsed.push(topics);
    const steady = await start(exactlyOnceConfig(topics, 'steady', 2));
    await steady.waitReady();
    const producer = produceInBackground(topics.input, EVENTS, 1_500, fraudEvent);
    await produceMessages(topics.input, [
      { key: 'poison-1', value: '{not json' },
      { key: 'poison-2', value: JSON.stringify({ id: 'x', amount: 'lots' }) },
    ]);
    for (let kill = 0; kill < KILLS; kill++) {
      const victim = await start(exactlyOnceConfig(topics, 'victim'));
      await victim.waitReady();
      await sleep(1_500 + Math.random() * 1_500);
      assert.equal((await victim.kill('SIGKILL')).signal, 'SIGKILL');
    }
    const last = await start(exactlyOnceConfig(topics, 'victim'));
    await last.waitReady();
    assert.equal(await producer.done, EVENTS);
    await waitForCommittedToEnd(topics, 120_000);
    const report = await checkDelivery(topics);
    assertExactlyOnce(report, EVENTS + 2);
    assert.equal(report.deadLettered, 2, 'each poison event: exactly one dead letter');
    assert.ok((await steady.metric('inference_transactions_total')) > 0);
    recordFaultFigures(`exactly-once: ${KILLS} kill -9 cycles under load`, report, {
      kills: KILLS,
    });
  });

  it('a zombie (SIGSTOP past its session, then SIGCONT) commits nothing its successor did', async () => {
    const topics = await createPipelineTopics('eos-zombie', PARTITIONS);
    topicsUsed.push(topics);
    const events = 6_000;
    const zombie = await start(exactlyOnceConfig(topics, 'zombie'));
    const other = await start(exactlyOnceConfig(topics, 'other'));
    await Promise.all([zombie.waitReady(), other.waitReady()]);
    const producer = produceInBackground(topics.input, events, 1_500, fraudEvent);
    await sleep(1_500);
    zombie.child.kill('SIGSTOP');
    // Past the session timeout: the group gives the zombie's partitions to the other member.
    await sleep(FAST_EXPIRY.sessionTimeoutMs + 4_000);
    zombie.child.kill('SIGCONT');
    assert.equal(await producer.done, events);
    await waitForCommittedToEnd(topics, 120_000);
    const report = await checkDelivery(topics);
    assertExactlyOnce(report, events);
    // What the zombie did on waking, for the record: when it held an open transaction, that was
    // refused (an abort, or fenced and stopped); the one-answer check above is the promise.
    const refusals = zombie.output
      .split('\n')
      .filter((line) => /transaction aborted|producer fenced|fatal/.test(line));
    process.stdout.write(`# zombie on waking: ${refusals.length} refusals\n`);
    for (const line of refusals.slice(0, 5)) process.stdout.write(`#   ${line.slice(0, 300)}\n`);
    assert.ok(
      (await other.metric('inference_group_joins_total')) >= 2,
      'the other member took the zombie’s partitions while it was stopped',
    );
    recordFaultFigures('exactly-once: a zombie past its session timeout', report);
  });
});
