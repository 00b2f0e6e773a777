/**
 * Model quality on the real stack: a worker with a shadow version reads a stream whose category
 * shares change halfway and whose producer stops sending a field. The category's PSI moves above
 * 0.2 while unchanged features stay below 0.1, the stopped field's defaulted counter equals the
 * events that lacked it, and the shadow agreement counters equal an independent comparison of
 * the prediction and shadow topics.
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
import { fraudEvent } from '../helpers/sample-events.js';
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
