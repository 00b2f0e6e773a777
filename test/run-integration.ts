/**
 * `npm run test:integration`: the integration tests against the local stack, in two phases, each
 * a `node --test` run. Most tests own everything they use (topics, groups, their own worker
 * processes, a private Redis or broker), so they run several at a time. The serial ones stop a
 * part of the shared stack that the others use, or measure time or memory that a neighbour
 * would skew. Files given as arguments run alone, serially. Prints each phase's duration.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const DIR = 'test/integration';
/** Concurrent test files in the first phase (2 cores here: most of a test's time is waiting). */
const CONCURRENCY = Number(process.env.INTEGRATION_CONCURRENCY ?? 3);

/** Each with why it cannot share the stack with others. */
const SERIAL: Record<string, string> = {
  'avro-codec.test.ts': 'stops the shared schema registry',
  'stack-smoke.test.ts': 'restarts the shared broker',
  'worker-broker-restart.test.ts': 'restarts the shared broker',
  'kafka-membership.test.ts': 'measures rebalance gaps in seconds',
  'worker-heartbeat.test.ts': 'blocks an inference thread against the session timeout',
  'worker-probes.test.ts': 'times a stall and a blocked event loop',
  'worker-backpressure.test.ts': 'bounds peak RSS under a backlog',
  'fault-model.test.ts': 'needs its hot swap to land mid-stream, which a busy machine delays',
};

function run(label: string, files: string[], concurrency: number): boolean {
  if (files.length === 0) return true;
  const started = Date.now();
  process.stdout.write(`\n::: integration, ${label}: ${files.length} files\n`);
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${concurrency}`,
      '--test-timeout=600000',
      ...files,
    ],
    { stdio: 'inherit' },
  );
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`::: integration, ${label}: ${seconds} s, exit ${result.status}\n`);
  return result.status === 0;
}

const asked = process.argv.slice(2);
if (asked.length > 0) {
  process.exit(run('as asked', asked, 1) ? 0 : 1);
}
const all = readdirSync(DIR)
  .filter((name) => name.endsWith('.test.ts'))
  .sort();
const unknownSerial = Object.keys(SERIAL).filter((name) => !all.includes(name));
if (unknownSerial.length > 0)
  throw new Error(`serial tests not found: ${unknownSerial.join(', ')}`);
const shared = all.filter((name) => !(name in SERIAL)).map((name) => `${DIR}/${name}`);
const serial = all.filter((name) => name in SERIAL).map((name) => `${DIR}/${name}`);
const sharedPassed = run(`${CONCURRENCY} at a time`, shared, CONCURRENCY);
const serialPassed = run('one at a time', serial, 1);
process.exit(sharedPassed && serialPassed ? 0 : 1);
