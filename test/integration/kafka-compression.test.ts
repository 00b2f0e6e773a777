import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KAFKA_BOOTSTRAP } from '../../deploy/local/kafka.js';
import { ensureStackUp } from '../../deploy/local/stack.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  readOutputs,
  sourceOf,
  waitForCommittedToEnd,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { runPythonPeer } from '../helpers/python-peer.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const MODEL = 'models/fraud-mlp/1';
const PER_CODEC = 500;

/** Confluent's Python client (a producer not written here) writes events with `codec`. */
function produceCompressed(topic: string, codec: string, first: number): void {
  const file = join(mkdtempSync(join(tmpdir(), 'compressed-')), 'events.jsonl');
  const events = Array.from({ length: PER_CODEC }, (_, i) => fraudEvent(first + i));
  writeFileSync(file, events.map((event) => JSON.stringify(event)).join('\n'));
  const acked = runPythonPeer(
    'compressed_producer.py',
    [KAFKA_BOOTSTRAP, topic, codec, file],
    120_000,
  );
  assert.equal(Number(acked.trim()), PER_CODEC, `${codec}: every record acknowledged`);
}

describe('compressed input written by a producer not written here', () => {
  const created: PipelineTopics[] = [];
  let worker: WorkerProcess | undefined;

  before(async () => {
    await ensureStackUp();
  });
  after(async () => {
    if (worker) await worker.kill('SIGKILL');
    for (const topics of created) await deletePipelineTopics(topics);
  });

  it('librdkafka: gzip, snappy, lz4 and zstd input is all predicted and committed', async () => {
    const topics = await createPipelineTopics('codecs', 3, 'librdkafka');
    created.push(topics);
    const codecs = ['gzip', 'snappy', 'lz4', 'zstd'];
    codecs.forEach((codec, i) => produceCompressed(topics.input, codec, i * PER_CODEC));
    worker = await WorkerProcess.start(workerConfigFor(topics, MODEL));
    const total = codecs.length * PER_CODEC;
    const { predictions, deadLetters } = await readOutputs(topics, total);
    assert.equal(deadLetters.length, 0, 'nothing dead-lettered');
    assert.equal(new Set(predictions.map((r) => sourceOf(r))).size, total);
    const ids = new Set(predictions.map((record) => record.key!.toString()));
    for (let i = 0; i < total; i++) assert.ok(ids.has(fraudEvent(i).id), `event ${i} predicted`);
    await waitForCommittedToEnd(topics, 15_000);
    await worker.kill('SIGTERM');
    worker = undefined;
  });

  it('kafkajs: gzip and snappy are read; lz4 stops the worker with the codec and the fix named', async () => {
    const readable = await createPipelineTopics('codecs-ok', 1, 'kafkajs');
    created.push(readable);
    produceCompressed(readable.input, 'gzip', 0);
    produceCompressed(readable.input, 'snappy', PER_CODEC);
    worker = await WorkerProcess.start(workerConfigFor(readable, MODEL));
    const { predictions } = await readOutputs(readable, 2 * PER_CODEC);
    assert.equal(new Set(predictions.map((r) => sourceOf(r))).size, 2 * PER_CODEC);
    await worker.kill('SIGTERM');

    const unreadable = await createPipelineTopics('codecs-lz4', 1, 'kafkajs');
    created.push(unreadable);
    produceCompressed(unreadable.input, 'lz4', 0);
    worker = await WorkerProcess.start(workerConfigFor(unreadable, MODEL));
    const exit = await worker.exited;
    assert.equal(
      exit.code,
      78,
      `exit code 78 (configuration), output:\n${worker.output.slice(-2000)}`,
    );
    assert.match(worker.output, /compressed with lz4, which the kafkajs transport cannot read/);
    assert.match(worker.output, /kafka\.client to librdkafka/);
    worker = undefined;
  });
});
