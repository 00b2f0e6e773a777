/**
 * The benchmark harness end to end with tiny counts (BENCH_QUICK=1): every contender drains its
 * backlog, every section reports, and the results folder gets its JSON, markdown and PNG. Only
 * the harness is checked here; its figures mean nothing at these sizes and nothing asserts on
 * them (`npm run bench` is the measurement).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ensureStackUp } from '../../deploy/local/stack.js';

const RUNNER = new URL('../bench/run-benchmarks.ts', import.meta.url).pathname;

describe('benchmark harness (BENCH_QUICK)', () => {
  before(async () => {
    await ensureStackUp();
  });

  it('runs every section and writes results.json, results.md and chart.png', async () => {
    const resultsDir = mkdtempSync(join(tmpdir(), 'bench-quick-'));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', RUNNER], {
      env: {
        ...process.env,
        BENCH_QUICK: '1',
        BENCH_RESULTS_DIR: resultsDir,
        BENCH_MAX_SECONDS: '400',
      },
      timeout: 450_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const results = JSON.parse(readFileSync(join(resultsDir, 'results.json'), 'utf8')) as {
      throughput: { model: string; contender: string; events: number; eventsPerSecond: number }[];
      latency: { p99: number }[];
      visible: { guarantee: string; p50: number }[];
      memory: { samples: unknown[]; maxRssMb: number };
      ratios: { ratio: string; value: number | null }[];
    };
    const contenders = results.throughput.map((row) => `${row.model}: ${row.contender}`);
    assert.deepEqual(contenders, [
      'fraud-mlp: worker (librdkafka)',
      'fraud-mlp: worker (kafkajs)',
      'fraud-mlp: worker, no drift or range checks',
      'fraud-mlp: worker, feedback (predictions kept in Redis)',
      'fraud-mlp: worker, six provenance headers',
      'fraud-mlp: worker, 2 processes',
      'fraud-mlp: worker, 2 processes × 1 inference thread',
      'fraud-mlp: worker, exactly-once',
      'fraud-mlp: python per-event',
      'fraud-mlp: python per-poll',
      'fraud-mlp: librdkafka pass-through',
      'fraud-mlp: kafkajs pass-through',
      'embedding-mlp: worker (librdkafka)',
      'embedding-mlp: worker, maxBatchSize 1',
      'embedding-mlp: worker, 2 processes × 1 inference thread',
      'embedding-mlp: python per-event',
      'embedding-mlp: python per-poll',
    ]);
    for (const row of results.throughput) {
      assert.equal(row.events, row.model === 'fraud-mlp' ? 2_000 : 200, row.contender);
      assert.ok(row.eventsPerSecond > 0, row.contender);
    }
    assert.equal(results.latency.length, 1, 'BENCH_QUICK: the 50% level only');
    assert.deepEqual(
      results.visible.map((row) => row.guarantee),
      ['at-least-once', 'exactly-once'],
    );
    assert.ok(results.latency.every((row) => row.p99 >= 0));
    assert.ok(results.memory.samples.length > 0 && results.memory.maxRssMb > 0);
    assert.equal(results.ratios.length, 22);
    assert.ok(
      results.ratios.every((row) => typeof row.value === 'number'),
      'every ratio measured',
    );
    const png = readFileSync(join(resultsDir, 'chart.png'));
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG');
    assert.match(readFileSync(join(resultsDir, 'results.md'), 'utf8'), /## Ratios and targets/);
    assert.match(stdout, /light: worker ÷ librdkafka pass-through/);
  });
});
