import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from './usage-error.js';

const SUITE = fileURLToPath(new URL('../../test/bench/run-benchmarks.ts', import.meta.url));

/** `kafka-infer bench`: the benchmark suite, which lives in a checkout (it needs peers and tsx). */
export function benchCommand(): Promise<number> {
  if (!existsSync(SUITE)) {
    throw new UsageError(
      `the benchmark suite runs from a checkout of the repository (${SUITE} is missing)`,
    );
  }
  const run = spawnSync(process.execPath, ['--import', 'tsx', SUITE], { stdio: 'inherit' });
  return Promise.resolve(run.status ?? 1);
}
