/** The example models the benchmark runs, as absolute paths (the worker child resolves them too). */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const modelDir = (name: string, version: string): string =>
  fileURLToPath(new URL(`../../models/${name}/${version}`, import.meta.url));

export const FRAUD_MODEL = { label: 'fraud-mlp/1', dir: modelDir('fraud-mlp', '1') } as const;
export const EMBEDDING_MODEL = {
  label: 'embedding-mlp/1',
  dir: modelDir('embedding-mlp', '1'),
} as const;

export type BenchModel = typeof FRAUD_MODEL | typeof EMBEDDING_MODEL;

/**
 * A copy of fraud-mlp/1 without what its model.json declares for monitoring (the features' and
 * the output's reference distributions, the numbers' ranges): the worker then tracks no drift and
 * checks no range, so a run on it beside the original measures what that monitoring costs.
 */
export function fraudModelWithoutMonitoring(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fraud-unmonitored-'));
  const manifest = JSON.parse(readFileSync(join(FRAUD_MODEL.dir, 'model.json'), 'utf8')) as {
    features: Record<string, unknown>[];
    output: Record<string, unknown>;
  };
  for (const feature of manifest.features) {
    delete feature.reference;
    delete feature.min;
    delete feature.max;
  }
  delete manifest.output.reference;
  writeFileSync(join(dir, 'model.json'), JSON.stringify(manifest, null, 2));
  copyFileSync(join(FRAUD_MODEL.dir, 'model.onnx'), join(dir, 'model.onnx'));
  return dir;
}
