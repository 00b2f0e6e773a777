/**
 * Model quality on the real stack: a worker with a shadow version reads a stream whose category
 * shares change halfway and whose producer stops sending a field. The category's PSI moves above
 * 0.2 while unchanged features stay below 0.1, the stopped field's defaulted counter equals the
 * events that lacked it, and the shadow agreement counters equal an independent comparison of
 * the prediction and shadow topics.
 *
 * Outcomes: two workers with a 50% canary share a Redis feedback store; outcomes for 80% of the
 * events arrive after their predictions, shuffled, on a topic with another partition layout.
 * Every outcome is joined once (correct/incorrect per version equal to an independent reading of
 * the prediction topic), outcomes of unknown ids are unmatched, malformed ones dead-lettered, and
 * the worse canary is flagged and withdrawn by each worker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureStackUp } from '../../deploy/local/stack.js';
import {
  createTopic,
  deleteTopics,
  readAllMessages,
  type ReadRecord,
} from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  produceMessages,
  waitForCommittedToEnd,
  fraudModelWithShadow,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { committedOffsets, endOffsets, waitFor } from '../helpers/kafka-test-helpers.js';
import { encodeRow, loadReferenceModel } from '../helpers/reference-model.js';
import { fraudEvent, mulberry32 } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const BEFORE = 2_000;
const AFTER = 5_000;

/** Sum of the series of `name` whose labels include every one of `labels`, from /metrics. */
async function metricWith(
  worker: WorkerProcess,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const matches = Object.entries(labels).every(([key, value]) =>
      line.includes(`${key}="${value}"`),
    );
    if (matches) sum = (sum ?? 0) + Number(line.split(' ').at(-1));
  }
  return sum;
}

/** Each prediction's label by the "partition@offset" of the event it answers. */
function labelsBySource(records: ReadRecord[]): Map<string, string> {
  return new Map(
    records.map((record) => {
      const body = JSON.parse(record.value.toString()) as {
        label: string;
        source: { partition: number; offset: string };
      };
      return [`${body.source.partition}@${body.source.offset}`, body.label];
    }),
  );
}

describe('model quality on the real stack: drift by kind, data quality, shadow agreement', () => {
  let topics: PipelineTopics;
  let worker: WorkerProcess | undefined;
  const shadowTopic = () => `${topics.input}-shadow`;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('quality', 3);
    await createTopic(shadowTopic(), 3);
  });

  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    await deletePipelineTopics(topics);
    await deleteTopics([shadowTopic()]);
  });

  it('a category shift and a stopped field show; shadow agreement matches the topics', async () => {
    worker = await WorkerProcess.start(
      workerConfigFor(topics, 'models/fraud-mlp/1', {
        model: fraudModelWithShadow(shadowTopic()),
        // Rows per half-window: the last 300 to 600 sampled rows, all after the shift.
        observability: { driftWindow: 300 },
      }),
    );
    await worker.waitReady();
    const message = (event: Record<string, unknown>) => ({
      key: String(event.id),
      value: JSON.stringify(event),
    });
    await produceMessages(
      topics.input,
      Array.from({ length: BEFORE }, (_, i) => message({ ...fraudEvent(i) })),
    );
    // Every event now from the ATM channel (10% in training), and day_of_week no longer sent;
    // everything else as before.
    await produceMessages(
      topics.input,
      Array.from({ length: AFTER }, (_, i) => {
        const event: Record<string, unknown> = { ...fraudEvent(BEFORE + i), channel: 'atm' };
        delete event.day_of_week;
        return message(event);
      }),
    );
    await waitForCommittedToEnd(topics, 120_000);

    const psi = async (feature: string) =>
      (await metricWith(worker!, 'inference_feature_drift_psi', { version: '1', feature }))!;
    const channel = await psi('channel');
    const unchanged = { is_foreign: await psi('is_foreign'), hour: await psi('hour_of_day') };
    process.stdout.write(
      `# PSI after the shift: channel ${channel.toFixed(3)}, is_foreign ${unchanged.is_foreign.toFixed(3)}, hour_of_day ${unchanged.hour.toFixed(3)}\n`,
    );
    assert.ok(channel > 0.2, `the category's PSI moved: ${channel}`);
    assert.ok(unchanged.is_foreign < 0.1 && unchanged.hour < 0.1, JSON.stringify(unchanged));
    assert.equal(
      await metricWith(worker, 'inference_feature_defaulted_total', { feature: 'day_of_week' }),
      AFTER,
      'every event without the field, once',
    );
    assert.equal(
      await metricWith(worker, 'inference_feature_defaulted_total', { feature: 'amount' }),
      0,
    );

    const primary = labelsBySource(
      await readAllMessages(topics.output, { expectedCount: BEFORE + AFTER }),
    );
    const shadow = labelsBySource(
      await readAllMessages(shadowTopic(), { expectedCount: BEFORE + AFTER }),
    );
    assert.equal(primary.size, BEFORE + AFTER);
    assert.equal(shadow.size, BEFORE + AFTER);
    let agree = 0;
    for (const [source, label] of primary) if (shadow.get(source) === label) agree++;
    const agreement = (result: string) =>
      metricWith(worker!, 'inference_shadow_agreement_total', {
        primary: '1',
        shadow: '2',
        result,
      });
    process.stdout.write(`# shadow v2 agrees with v1 on ${agree} of ${primary.size} events\n`);
    assert.equal(await agreement('agree'), agree);
    assert.equal(await agreement('disagree'), primary.size - agree);
  });
});

describe('outcomes joined to predictions on the real stack: two workers, a canary, Redis', () => {
  const EVENTS = 10_000;
  let topics: PipelineTopics;
  const workers: WorkerProcess[] = [];
  const outcomeTopic = () => `${topics.input}-outcomes`;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('feedback', 6);
    await createTopic(outcomeTopic(), 4); // another partition layout than the events'
  });

  after(async () => {
    await Promise.all(workers.map((worker) => worker.kill('SIGKILL')));
    await deletePipelineTopics(topics);
    await deleteTopics([outcomeTopic()]);
  });

  it('joins each outcome once, as the prediction topic says; the worse canary is withdrawn', async () => {
    const config = workerConfigFor(topics, 'models/fraud-mlp/1', {
      model: {
        path: undefined,
        repository: 'models',
        name: 'fraud-mlp',
        version: '1',
        canary: { version: '2', percent: 50 },
      },
      cache: { enabled: false, redisUrl: 'redis://127.0.0.1:6379' },
      feedback: {
        topic: outcomeTopic(),
        idField: 'id',
        labelField: 'is_fraud',
        keyPrefix: `feedback-${topics.groupId}`,
        canary: { margin: 0.05, minOutcomes: 500, withdraw: true },
      },
    });
    workers.push(await WorkerProcess.start(config), await WorkerProcess.start(config));
    await Promise.all(workers.map((worker) => worker.waitReady()));
    const events = Array.from({ length: EVENTS }, (_, i) => fraudEvent(i));
    await produceMessages(
      topics.input,
      events.map((event) => ({ key: event.id, value: JSON.stringify(event) })),
    );
    await waitForCommittedToEnd(topics, 120_000);
    const predictions = await readAllMessages(topics.output, { expectedCount: EVENTS });
    const answerOf = new Map(
      predictions.map((record) => {
        const body = JSON.parse(record.value.toString()) as { label: string; modelVersion: string };
        return [record.key!.toString(), body];
      }),
    );
    assert.equal(answerOf.size, EVENTS);

    // The truth: version 1's answer by the float64 reference evaluation (so the canary, version
    // 2, is right only where it agrees with version 1).
    const reference = loadReferenceModel('models/fraud-mlp/1');
    const truth = reference
      .predict(events.map((event) => encodeRow(reference.json, { ...event })))
      .map((row) => (row[0]! >= row[1]! ? 'legit' : 'fraud'));
    const random = mulberry32(11);
    const chosen = events.map((_, i) => i).filter(() => random() < 0.8);
    chosen.sort(() => random() - 0.5);
    const unknown = 50;
    const malformed = 20;
    await produceMessages(outcomeTopic(), [
      ...chosen.map((i) => ({
        key: `o-${i}`,
        value: JSON.stringify({ id: events[i]!.id, is_fraud: truth[i] }),
      })),
      ...chosen.slice(0, 25).map((i) => ({
        key: `again-${i}`,
        value: JSON.stringify({ id: events[i]!.id, is_fraud: truth[i] }),
      })),
      ...Array.from({ length: unknown }, (_, i) => ({
        key: null,
        value: JSON.stringify({ id: `never-seen-${i}`, is_fraud: 'legit' }),
      })),
      ...Array.from({ length: malformed }, (_, i) => ({
        key: null,
        value: JSON.stringify({ id: events[i]!.id, is_fraud: 'unknown-label' }),
      })),
    ]);
    const end = JSON.stringify(await endOffsets(outcomeTopic()));
    await waitFor(
      async () =>
        JSON.stringify(await committedOffsets(`${topics.groupId}.feedback`, outcomeTopic())) ===
        end,
      { timeoutMs: 60_000, intervalMs: 200, message: 'the feedback group read every outcome' },
    );

    const expected = new Map<string, number>();
    for (const i of chosen) {
      const answer = answerOf.get(events[i]!.id)!;
      const result = answer.label === truth[i] ? 'correct' : 'incorrect';
      const key = `${answer.modelVersion}/${result}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    const summed = async (name: string, labels: Record<string, string>) => {
      let sum = 0;
      for (const worker of workers) sum += (await metricWith(worker, name, labels)) ?? 0;
      return sum;
    };
    for (const [version, role] of [
      ['1', 'primary'],
      ['2', 'canary'],
    ] as const) {
      for (const result of ['correct', 'incorrect']) {
        assert.equal(
          await summed('inference_feedback_total', { version, role, result }),
          expected.get(`${version}/${result}`) ?? 0,
          `${version} ${role} ${result}`,
        );
      }
    }
    process.stdout.write(
      `# outcomes joined: ${chosen.length}; v1 correct ${expected.get('1/correct')}, v2 correct ${expected.get('2/correct')} incorrect ${expected.get('2/incorrect')}\n`,
    );
    assert.equal(expected.get('1/incorrect') ?? 0, 0);
    assert.equal(await summed('inference_feedback_total', { result: 'unmatched' }), unknown);
    assert.equal(await summed('inference_feedback_total', { result: 'duplicate' }), 25);
    const deadLetters = await readAllMessages(topics.deadLetter, { expectedCount: malformed });
    assert.equal(deadLetters.length, malformed);
    for (const record of deadLetters) {
      assert.equal(record.headers['dlq.error.stage']?.toString(), 'feedback');
    }
    // Each worker judged the canary on the outcomes it joined, and withdrew it.
    for (const worker of workers) {
      assert.equal(await metricWith(worker, 'inference_canary_worse', { canary: '2' }), 1);
      assert.equal(
        await metricWith(worker, 'inference_model_rollbacks_total', { from: '2', to: '1' }),
        1,
      );
    }
  });
});
