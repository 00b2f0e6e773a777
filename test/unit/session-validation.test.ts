/**
 * validateSessionAgainstManifest against a real ONNX Runtime session of models/fraud-mlp/1:
 * the committed model.json passes; a model.json that disagrees with the graph (input name, output
 * name, input width, label count) is a ModelLoadError naming the mismatch. The same through
 * LoadedModel.load, where validation runs on the inference thread.
 *
 * LoadedModel comes from the compiled dist/ (`npm test` builds first): on Node 20 a worker thread
 * does not get tsx's loader (nodejs/node#47747), so src/model/inference-thread.ts cannot start
 * under `node --import tsx`.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InferenceSession } from 'onnxruntime-node';
import { ModelLoadError } from '../../src/errors.js';
import { readModelManifest, type ModelManifest } from '../../src/model/model-manifest.js';
import { validateSessionAgainstManifest } from '../../src/model/session-validation.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL_DIR = path.join(ROOT, 'models/fraud-mlp/1');
const DIST = path.join(ROOT, 'dist');

/** A module of the compiled worker, typed as its source. */
async function fromDist<T>(relative: string): Promise<T> {
  const file = path.join(DIST, relative);
  assert.ok(existsSync(file), `${file} is missing: run "npm run build" first`);
  return (await import(pathToFileURL(file).href)) as T;
}
const WHERE = 'model "fraud-mlp" version 1';

const real = readModelManifest(MODEL_DIR);
function variant(patch: (manifest: ModelManifest) => void): ModelManifest {
  const manifest = structuredClone(real);
  patch(manifest);
  return manifest;
}

function assertMismatch(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ModelLoadError, `expected ModelLoadError, got ${String(error)}`);
    for (const fragment of fragments) {
      assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
    }
    return true;
  });
}

describe('validateSessionAgainstManifest on a real session', () => {
  let session: InferenceSession;
  before(async () => {
    session = await InferenceSession.create(path.join(MODEL_DIR, 'model.onnx'), {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
    });
  });
  after(async () => {
    await session?.release();
  });

  test('the committed model.json passes', () => {
    assert.doesNotThrow(() => validateSessionAgainstManifest(session, real));
  });

  test('wrong input name', () => {
    assertMismatch(
      () =>
        validateSessionAgainstManifest(
          session,
          variant((m) => {
            m.input.name = 'feats';
          }),
        ),
      WHERE,
      'model.json names input "feats" but the ONNX graph has features',
    );
  });

  test('wrong output name', () => {
    assertMismatch(
      () =>
        validateSessionAgainstManifest(
          session,
          variant((m) => {
            m.output.name = 'scores';
          }),
        ),
      WHERE,
      'model.json names output "scores" but the ONNX graph has probabilities',
    );
  });

  test('wrong input width (one feature removed)', () => {
    assertMismatch(
      () =>
        validateSessionAgainstManifest(
          session,
          variant((m) => {
            m.features.splice(3, 1);
          }),
        ),
      WHERE,
      'input "features" has width 30 in the ONNX graph, model.json implies 29',
    );
  });

  test('wrong input width (a category gained a value)', () => {
    assertMismatch(
      () =>
        validateSessionAgainstManifest(
          session,
          variant((m) => {
            const channel = m.features.find((f) => f.type === 'category');
            assert.ok(channel?.type === 'category');
            channel.categories.push('phone');
          }),
        ),
      'has width 30 in the ONNX graph, model.json implies 31',
    );
  });

  test('wrong number of labels', () => {
    assertMismatch(
      () =>
        validateSessionAgainstManifest(
          session,
          variant((m) => {
            assert.ok(m.output.kind === 'classification');
            m.output.labels.push('unsure');
          }),
        ),
      WHERE,
      'output "probabilities" has width 2 in the ONNX graph, model.json implies 3',
    );
  });

  test('regression output against a two-wide output', () => {
    assertMismatch(
      () =>
        validateSessionAgainstManifest(
          session,
          variant((m) => {
            m.output = { name: 'probabilities', kind: 'regression' };
          }),
        ),
      'output "probabilities" has width 2 in the ONNX graph, model.json implies 1',
    );
  });
});

describe('LoadedModel.load with a bad model.json (validated on the inference thread)', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'session-validation-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  function copyModel(name: string, manifest: ModelManifest): string {
    const dir = mkdtempSync(path.join(tmp, `${name}-`));
    copyFileSync(path.join(MODEL_DIR, 'model.onnx'), path.join(dir, 'model.onnx'));
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(manifest));
    return dir;
  }

  let LoadedModel: typeof import('../../src/model/loaded-model.js').LoadedModel;
  let DistModelLoadError: typeof ModelLoadError;
  before(async () => {
    ({ LoadedModel } =
      await fromDist<typeof import('../../src/model/loaded-model.js')>('model/loaded-model.js'));
    ({ ModelLoadError: DistModelLoadError } =
      await fromDist<typeof import('../../src/errors.js')>('errors.js'));
  });

  const options = {
    device: 'cpu' as const,
    inferenceThreads: 1,
    intraOpThreads: 1,
    debugInferenceDelayMs: 0,
  };

  async function assertLoadRejects(dir: string, ...fragments: string[]): Promise<void> {
    await assert.rejects(LoadedModel.load(dir, options), (error: unknown) => {
      assert.ok(
        error instanceof DistModelLoadError,
        `expected ModelLoadError, got ${String(error)}`,
      );
      for (const fragment of fragments) {
        assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
      }
      return true;
    });
  }

  test('one feature too few: rejects naming the width mismatch', async () => {
    const dir = copyModel(
      'width',
      variant((m) => {
        m.features.pop();
      }),
    );
    await assertLoadRejects(dir, 'has width 30 in the ONNX graph, model.json implies 27');
  });

  test('a renamed output: rejects naming both names', async () => {
    const dir = copyModel(
      'output',
      variant((m) => {
        m.output.name = 'scores';
      }),
    );
    await assertLoadRejects(dir, 'output "scores"', 'probabilities');
  });

  test('the unchanged copy loads and reports its identity', async () => {
    const dir = copyModel('ok', real);
    const model = await LoadedModel.load(dir, options);
    try {
      const { name, version, provider } = model.identity;
      assert.deepEqual(
        { name, version, provider },
        { name: 'fraud-mlp', version: '1', provider: 'cpu' },
      );
      assert.equal(model.featurizer.width, 30);
    } finally {
      await model.close();
    }
  });
});

describe('execution provider preference (model.json executionProviders)', () => {
  test('device "auto" follows the model preference and ends on the CPU', async () => {
    const { openSession } = await import('../../src/model/execution-provider.js');
    const opened = await openSession(
      path.join('models', 'fraud-mlp', '1', 'model.onnx'),
      'auto',
      1,
      ['cpu'],
    );
    assert.equal(opened.provider, 'cpu');
    await opened.session.release();
  });

  test('device "auto" never picks WebGPU when no GPU device node exists (only a software adapter could serve it)', async () => {
    const { gpuDeviceNodes, openSession } = await import('../../src/model/execution-provider.js');
    const opened = await openSession(
      path.join('models', 'fraud-mlp', '1', 'model.onnx'),
      'auto',
      1,
      ['webgpu', 'cpu'],
    );
    assert.equal(opened.provider, gpuDeviceNodes().length > 0 ? 'webgpu' : 'cpu');
    await opened.session.release();
  });
});
