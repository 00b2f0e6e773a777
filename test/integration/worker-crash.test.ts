import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { produceInBackground } from '../helpers/background-producer.js';
import { committedOffsets, endOffsets, readAllMessages } from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  header,
  readOutputs,
  sourceOf,
  waitForCommittedToEnd,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import type { ReadRecord } from '../helpers/kafka-test-helpers.js';
import { checkDelivery } from '../helpers/delivery-check.js';
import { faultScale, recordFaultFigures } from '../helpers/fault-figures.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const MODEL = 'models/fraud-mlp/1';
const PARTITIONS = 6;
/**
 * Kills per run: 5 on the default transport, 2 on kafkajs in `npm test` (the pipeline's side of a
 * crash is also proven in milliseconds on the in-memory transport, test/unit/delivery-promises).
 */
const killsFor = (client: string): number => faultScale(client === 'librdkafka' ? 5 : 2, 20);
const EVENTS = faultScale(24_000, 100_000);

/** Fast member expiry, so that a restarted worker need not wait 30 s for its dead predecessor. */
const FAST_EXPIRY = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 };

type Window = { from: number; to: number };

function maxSourceOffsetByPartition(records: ReadRecord[]): Map<number, number> {
  const max = new Map<number, number>();
  for (const record of records) {
    const partition = Number(header(record, 'source.partition'));
    max.set(partition, Math.max(max.get(partition) ?? -1, Number(header(record, 'source.offset'))));
  }
  return max;
}

for (const client of TRANSPORTS) {
  const KILLS = killsFor(client);
  describe(`${client}: worker: SIGKILL mid-stream loses nothing; duplicates stay in the uncommitted window`, () => {
    let topics: PipelineTopics;
    let worker: WorkerProcess | undefined;

    before(async () => {
      await ensureStackUp();
      topics = await createPipelineTopics('crash', PARTITIONS, client);
    });
    after(async () => {
      if (worker) await worker.kill('SIGKILL');
      await deletePipelineTopics(topics);
    });

    it(`survives ${KILLS} kill -9s: every offset predicted, duplicates identical and bounded`, async () => {
      const config = workerConfigFor(topics, MODEL, {
        kafka: FAST_EXPIRY,
        // Slow inference down a little so that kills land with work in flight.
        model: { debugInferenceDelayMs: 15 },
        batching: { maxBatchSize: 64, maxBatchDelayMs: 5 },
        delivery: { commitIntervalMs: 300 },
      });
      const producer = produceInBackground(topics.input, EVENTS, 2_000, fraudEvent);
      const windows = new Map<number, Window[]>();

      for (let kill = 0; kill < KILLS; kill++) {
        worker = await WorkerProcess.start(config);
        await worker.waitReady();
        await sleep(1_000 + Math.random() * 1_500);
        const status = await worker.kill('SIGKILL');
        assert.equal(status.signal, 'SIGKILL');
        worker = undefined;
        // What the dead worker had committed, and how far its acknowledged outputs reached.
        const committed = await committedOffsets(topics.groupId, topics.input);
        const produced = maxSourceOffsetByPartition(await readAllMessages(topics.output));
        for (let p = 0; p < PARTITIONS; p++) {
          const from = committed[p] ?? 0;
          const to = produced.get(p) ?? -1;
          if (to >= from) windows.set(p, [...(windows.get(p) ?? []), { from, to }]);
        }
      }
      worker = await WorkerProcess.start(config);
      await worker.waitReady();
      assert.equal(await producer.done, EVENTS);

      const { predictions, deadLetters } = await readOutputs(topics, EVENTS, 180_000);
      assert.equal(deadLetters.length, 0);
      const bySource = new Map<string, ReadRecord[]>();
      for (const record of predictions) {
        const source = sourceOf(record);
        bySource.set(source, [...(bySource.get(source) ?? []), record]);
      }
      const end = await endOffsets(topics.input);
      let inputs = 0;
      for (let p = 0; p < PARTITIONS; p++) {
        for (let offset = 0; offset < end[p]!; offset++) {
          inputs++;
          assert.ok(bySource.has(`${p}@${offset}`), `input ${p}@${offset} has a prediction`);
        }
      }
      assert.equal(inputs, EVENTS);

      let duplicates = 0;
      let windowTotal = 0;
      for (const list of windows.values()) for (const w of list) windowTotal += w.to - w.from + 1;
      for (const [source, records] of bySource) {
        if (records.length === 1) continue;
        duplicates += records.length - 1;
        const [partition, offset] = source.split('@').map(Number) as [number, number];
        const inWindow = (windows.get(partition) ?? []).some(
          (w) => offset >= w.from && offset <= w.to,
        );
        assert.ok(inWindow, `duplicate ${source} lies in an uncommitted window at a kill`);
        const predictionOf = (r: ReadRecord) => {
          const { label, confidence, topK, model, modelVersion } = JSON.parse(r.value.toString());
          return { key: r.key!.toString(), label, confidence, topK, model, modelVersion };
        };
        for (const record of records.slice(1)) {
          assert.deepEqual(
            predictionOf(record),
            predictionOf(records[0]!),
            `duplicate ${source} is identical`,
          );
        }
      }
      assert.ok(
        duplicates <= windowTotal,
        `${duplicates} duplicates within ${windowTotal} uncommitted offsets`,
      );
      process.stdout.write(
        `# crash test: ${KILLS} kills, ${duplicates} duplicates, uncommitted windows ${windowTotal} offsets\n`,
      );

      await waitForCommittedToEnd(topics, 20_000);
      const report = await checkDelivery(topics);
      assert.deepEqual(report.lost, []);
      assert.equal(report.duplicatesDiffering, 0);
      assert.equal(report.orderViolations, 0);
      recordFaultFigures(`${client}: ${KILLS} kill -9 cycles under load`, report, { kills: KILLS });
    });
  });
}
