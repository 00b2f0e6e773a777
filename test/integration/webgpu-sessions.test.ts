/**
 * ONNX Runtime's WebGPU context is process-wide and aborts the process when two threads use it
 * at once. Every WebGPU session takes turns through one lock (src/model/device-lock.ts): two
 * inference threads of one version, and a second version loading beside them, run concurrent
 * batches without a crash and answer like the CPU. Runs on the software Vulkan device.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ensureSoftwareVulkan } from '../../deploy/local/vulkan.js';
import { LoadedModel } from '../../src/model/loaded-model.js';
import type { RowResult } from '../../src/model/postprocessor.js';

const MODEL = 'models/fraud-mlp/1';
const WIDTH = 30;

function probabilities(prediction: RowResult): number[] {
  assert.ok('kind' in prediction && prediction.kind === 'classification', String(prediction));
  return prediction.topK.map((entry) => entry.probability);
}

describe('WebGPU sessions on several threads take turns', () => {
  before(() => {
    ensureSoftwareVulkan();
  });

  it('runs 40 concurrent batches on two threads and a second version loading, like the CPU', async () => {
    const options = { intraOpThreads: 1, debugInferenceDelayMs: 0 };
    const gpu = await LoadedModel.load(MODEL, {
      ...options,
      device: 'webgpu',
      inferenceThreads: 2,
    });
    const cpu = await LoadedModel.load(MODEL, { ...options, device: 'cpu', inferenceThreads: 1 });
    try {
      assert.equal(gpu.identity.provider, 'webgpu');
      const rows = Float32Array.from({ length: 64 * WIDTH }, (_, i) => (i % 13) / 13);
      const expected = await cpu.predict(rows, 64);
      // A hot swap's shape: another version loads while batches run on the first.
      const loading = LoadedModel.load(MODEL, {
        ...options,
        device: 'webgpu',
        inferenceThreads: 1,
      });
      const results = await Promise.all(Array.from({ length: 40 }, () => gpu.predict(rows, 64)));
      const second = await loading;
      results.push(await second.predict(rows, 64));
      await second.close();
      for (const predictions of results) {
        predictions.forEach((prediction, row) => {
          const got = probabilities(prediction);
          const want = probabilities(expected[row]!);
          got.forEach((p, i) => assert.ok(Math.abs(p - want[i]!) < 1e-5, `row ${row}: ${p}`));
        });
      }
    } finally {
      await gpu.close();
      await cpu.close();
    }
  });
});
