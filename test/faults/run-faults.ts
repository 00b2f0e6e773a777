/**
 * `npm run test:faults`: the fault scenarios at full length (FAULTS=long: 20 kill -9 cycles,
 * 30 s outages, 10,000 hostile payloads, ...) against the local stack, then one table of their
 * figures, printed and written to docs/faults/results.md. Exits non-zero when a scenario fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const SCENARIOS = [
  'test/integration/worker-crash.test.ts',
  'test/integration/exactly-once.test.ts',
  'test/integration/worker-scale-out.test.ts',
  'test/integration/worker-broker-restart.test.ts',
  'test/integration/prediction-cache.test.ts',
  'test/integration/avro-codec.test.ts',
  'test/integration/fault-hostile.test.ts',
  'test/integration/worker-bad-input.test.ts',
  'test/integration/fault-model.test.ts',
  'test/integration/worker-heartbeat.test.ts',
];
const COLUMNS = ['inputs', 'lost', 'duplicates', 'duplicates differing', 'order violations'];

const figuresFile = join(mkdtempSync(join(tmpdir(), 'faults-')), 'figures.jsonl');
const started = Date.now();
const run = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=1800000', ...SCENARIOS],
  {
    stdio: 'inherit',
    env: { ...process.env, FAULTS: 'long', FAULT_FIGURES: figuresFile },
  },
);

const rows = existsSync(figuresFile)
  ? readFileSync(figuresFile, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, string | number>)
  : [];
const cell = (value: unknown) => String(value ?? '').replace(/\|/g, '/');
const lines = [
  `Fault suite (FAULTS=long), ${new Date().toISOString().slice(0, 10)}, ` +
    `${cpus().length} cores, ${Math.round((Date.now() - started) / 1000)} s, ` +
    `exit ${run.status ?? run.signal}`,
  '',
  `| scenario | ${COLUMNS.join(' | ')} | dead letters | other figures |`,
  `|---|${COLUMNS.map(() => '---:').join('|')}|---|---|`,
  ...rows.map((row) => {
    const { scenario, 'dead letters': deadLetters, ...rest } = row;
    const other = Object.entries(rest)
      .filter(([name]) => !COLUMNS.includes(name))
      .map(([name, value]) => `${name} ${value}`)
      .join('; ');
    return `| ${cell(scenario)} | ${COLUMNS.map((c) => cell(rest[c])).join(' | ')} | ${cell(deadLetters)} | ${cell(other)} |`;
  }),
];
const table = `${lines.join('\n')}\n`;
process.stdout.write(`\n${table}`);
mkdirSync('docs/faults', { recursive: true });
writeFileSync('docs/faults/results.md', table);
process.exit(run.status ?? 1);
