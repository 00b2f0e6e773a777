import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The CUDA provider library only exists when onnxruntime-node was installed with the cuda12
 * flag. Checking first keeps "auto" on a CPU machine from logging a native load failure.
 */
export function cudaProviderInstalled(): boolean {
  const binding = join(
    dirname(createRequire(import.meta.url).resolve('onnxruntime-node')),
    '..',
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
  );
  return existsSync(join(binding, 'libonnxruntime_providers_cuda.so'));
}
