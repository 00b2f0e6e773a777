/**
 * `kafka-infer replay` (backfill): exactly the input records whose timestamps fall in [from, to)
 * are predicted, onto another topic, through the same pipeline; the live group's offsets are not
 * touched and the command exits 0 with its summary.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureStackUp } from '../../deploy/local/stack.js';
import {
  committedOffsets,
  createTopic,
  deleteTopics,
  readAllMessages,
  uniqueName,
} from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  jsonMessage,
  produceMessages,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';

const CLI = 'dist/cli/main.js';

describe('kafka-infer replay: a past range, exactly', () => {
  let topics: PipelineTopics;
  let replayOutput: string;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('replay', 3);
    replayOutput = await createTopic(uniqueName('replay-out'), 3);
  });
  after(async () => {
    await deletePipelineTopics(topics);
    await deleteTopics([replayOutput]);
  });

  it('predicts exactly the events inside [from, to) and leaves the live group alone', async () => {
    const batch = (name: string, count: number) =>
      Array.from({ length: count }, (_, i) =>
        jsonMessage({ ...fraudEvent(i), id: `${name}-${i}` }),
      );
    await produceMessages(topics.input, batch('before', 300));
    await sleep(1_500);
    const from = new Date();
    await produceMessages(topics.input, batch('inside', 900));
    await sleep(1_500);
    const to = new Date();
    await produceMessages(topics.input, batch('after', 300));

    const config = join(mkdtempSync(join(tmpdir(), 'replay-')), 'config.json');
    writeFileSync(config, JSON.stringify(workerConfigFor(topics, 'models/fraud-mlp/1')));
    const run = spawnSync(
      process.execPath,
      [
        CLI,
        'replay',
        '--config',
        config,
        '--from',
        from.toISOString(),
        '--to',
        to.toISOString(),
        '--output',
        replayOutput,
      ],
      {
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1' },
      },
    );
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    process.stdout.write(`# replay summary: ${JSON.stringify(summary)}\n`);
    assert.equal(summary.events, 900);
    assert.equal(summary.predictions, 900);
    assert.equal(summary.deadLetters, 0);
    assert.match(run.stderr, /replay \[/, 'a progress bar');

    const outputs = await readAllMessages(replayOutput, { expectedCount: 900 });
    const keys = new Set(outputs.map((record) => record.key!.toString()));
    assert.equal(outputs.length, 900, 'each inside event once');
    assert.equal(keys.size, 900);
    assert.ok(
      [...keys].every((key) => key.startsWith('inside-')),
      'nothing outside the range',
    );
    assert.equal((await readAllMessages(topics.output)).length, 0, 'the live output untouched');
    const live = await committedOffsets(topics.groupId, topics.input);
    assert.ok(
      Object.values(live).every((offset) => offset === -1),
      'the live group has no offsets',
    );
  });

  it('refuses a range that ends before it starts', () => {
    const run = spawnSync(
      process.execPath,
      [
        CLI,
        'replay',
        '--config',
        'deploy/config/fraud-worker.yaml',
        '--from',
        '2026-01-02T00:00:00Z',
        '--to',
        '2026-01-01T00:00:00Z',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--to must be after --from/);
  });
});
