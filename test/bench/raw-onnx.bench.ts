/**
 * Section 1: ONNX Runtime alone, in this process, through onnxruntime-node directly: one session
 * per model with one intra-op thread (the worker's defaults, as in src/model/execution-provider.ts),
 * the same input tensor reused, so the figure is the model's own cost per call and per row.
 */
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { encodeRow, readModelJson } from '../helpers/reference-model.js';
import { sampleEvent } from '../helpers/sample-events.js';
import { markdownTable, fmt, median, progress } from './bench-table.js';
import type { BenchModel } from './bench-models.js';

export const ORT_BATCH_SIZES = [1, 8, 32, 64, 128, 256, 512] as const;

export interface OrtMeasurement {
  model: string;
  batchSize: number;
  calls: number;
  medianMsPerCall: number;
  rowsPerSecond: number;
}

export interface OrtOptions {
  secondsPerSize: number;
  minCalls: number;
}

export async function benchRawOnnx(
  models: readonly BenchModel[],
  options: OrtOptions,
): Promise<OrtMeasurement[]> {
  const results: OrtMeasurement[] = [];
  for (const model of models) {
    progress(`raw ORT: ${model.label}`);
    const json = readModelJson(model.dir);
    const session = await InferenceSession.create(join(model.dir, 'model.onnx'), {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    try {
      const largest = ORT_BATCH_SIZES.at(-1)!;
      const rows = Array.from({ length: largest }, (_, i) =>
        encodeRow(json, sampleEvent(json.name, i) as unknown as Record<string, unknown>),
      );
      const width = rows[0]!.length;
      for (const batchSize of ORT_BATCH_SIZES) {
        const data = new Float32Array(batchSize * width);
        for (let i = 0; i < batchSize; i++) data.set(rows[i]!, i * width);
        const feeds = { [json.input.name]: new Tensor('float32', data, [batchSize, width]) };
        const { calls, medianMsPerCall } = await timeCalls(() => session.run(feeds), options);
        const rowsPerSecond = (batchSize * 1000) / medianMsPerCall;
        results.push({ model: model.label, batchSize, calls, medianMsPerCall, rowsPerSecond });
      }
    } finally {
      await session.release();
    }
  }
  return results;
}

/** Warm-up (at least 5 calls or 200 ms), then calls until the time and count are both reached. */
async function timeCalls(
  call: () => Promise<unknown>,
  { secondsPerSize, minCalls }: OrtOptions,
): Promise<{ calls: number; medianMsPerCall: number }> {
  const warmUntil = performance.now() + 200;
  for (let i = 0; i < 5 || performance.now() < warmUntil; i++) await call();
  const times: number[] = [];
  const until = performance.now() + secondsPerSize * 1000;
  while (times.length < minCalls || performance.now() < until) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  return { calls: times.length, medianMsPerCall: median(times) };
}

export function rawOnnxTable(results: readonly OrtMeasurement[]): string {
  return markdownTable(
    ['model', 'batch', 'timed calls', 'median ms/call', 'µs/row', 'rows/s'],
    results.map((r) => [
      r.model,
      r.batchSize,
      r.calls,
      fmt(r.medianMsPerCall, r.medianMsPerCall < 1 ? 4 : 2),
      fmt((r.medianMsPerCall * 1000) / r.batchSize, 2),
      fmt(r.rowsPerSecond),
    ]),
  );
}

/** The measured row of `model` whose batch size is nearest `batchSize`. */
export function nearestBatch(
  results: readonly OrtMeasurement[],
  model: string,
  batchSize: number,
): OrtMeasurement | undefined {
  let best: OrtMeasurement | undefined;
  for (const r of results) {
    if (r.model !== model) continue;
    if (!best || Math.abs(r.batchSize - batchSize) < Math.abs(best.batchSize - batchSize)) best = r;
  }
  return best;
}
