/** The example models the benchmark runs, as absolute paths (the worker child resolves them too). */
import { fileURLToPath } from 'node:url';

const modelDir = (name: string, version: string): string =>
  fileURLToPath(new URL(`../../models/${name}/${version}`, import.meta.url));

export const FRAUD_MODEL = { label: 'fraud-mlp/1', dir: modelDir('fraud-mlp', '1') } as const;
export const EMBEDDING_MODEL = {
  label: 'embedding-mlp/1',
  dir: modelDir('embedding-mlp', '1'),
} as const;

export type BenchModel = typeof FRAUD_MODEL | typeof EMBEDDING_MODEL;
