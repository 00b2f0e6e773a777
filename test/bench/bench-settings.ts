/**
 * The benchmark's counts and limits, each overridable from the environment. BENCH_QUICK=1 shrinks
 * every count so that the whole harness runs end to end in well under a minute (npm test does
 * that); its figures mean nothing.
 */

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive number, got "${raw}"`);
  }
  return value;
}

function envInt(name: string, fallback: number): number {
  return Math.floor(envNumber(name, fallback));
}

export const SECTIONS = ['ort', 'light', 'heavy', 'latency', 'memory', 'cache', 'webgpu'] as const;
export type Section = (typeof SECTIONS)[number];
/** Run when BENCH_SECTIONS is not set; "webgpu" (a software device, no speed to learn) is opt-in. */
const DEFAULT_SECTIONS = SECTIONS.filter((section) => section !== 'webgpu');

function envSections(): ReadonlySet<Section> {
  const raw = process.env.BENCH_SECTIONS;
  if (!raw) return new Set(DEFAULT_SECTIONS);
  const picked = raw.split(',').map((s) => s.trim());
  for (const name of picked) {
    if (!(SECTIONS as readonly string[]).includes(name)) {
      throw new Error(`BENCH_SECTIONS: unknown section "${name}" (known: ${SECTIONS.join(', ')})`);
    }
  }
  return new Set(picked as Section[]);
}

export interface BenchSettings {
  quick: boolean;
  /** BENCH_SECTIONS=ort,light,heavy,latency,memory,cache,webgpu (default: all but webgpu). */
  sections: ReadonlySet<Section>;
  /** BENCH_ORT_SECONDS: measuring time per model and batch size (default 1). */
  ortSecondsPerSize: number;
  /** BENCH_ORT_MIN_CALLS: at least this many timed calls per batch size (default 20). */
  ortMinCalls: number;
  /** BENCH_FRAUD_EVENTS: the light model's backlog (200,000). */
  fraudEvents: number;
  /** BENCH_EMBEDDING_EVENTS: the heavy model's backlog (5,000). */
  embeddingEvents: number;
  /** BENCH_LATENCY_SECONDS: how long each open-loop load level runs (8). */
  latencySeconds: number;
  /** BENCH_MEMORY_EVENTS: the large backlog whose drain is watched for RSS (1,000,000). */
  memoryEvents: number;
  /** BENCH_CACHE_EVENTS: events of the repeated-input stream (4,000). */
  cacheEvents: number;
  /** BENCH_CACHE_DISTINCT: distinct feature rows in that stream (200). */
  cacheDistinctRows: number;
  /** BENCH_DRAIN_TIMEOUT_S: give up on one drain after this long (300). */
  drainTimeoutMs: number;
  /** BENCH_MAX_SECONDS: the whole run is aborted (workers killed) after this long (1,800). */
  maxRunMs: number;
  /** BENCH_RESULTS_DIR: where results.json, results.md and chart.png go (docs/benchmarks). */
  resultsDir: string;
}

export function benchSettings(): BenchSettings {
  const quick = process.env.BENCH_QUICK === '1';
  const pick = (full: number, small: number): number => (quick ? small : full);
  return {
    quick,
    sections: envSections(),
    ortSecondsPerSize: envNumber('BENCH_ORT_SECONDS', pick(1, 0.05)),
    ortMinCalls: envInt('BENCH_ORT_MIN_CALLS', pick(20, 3)),
    fraudEvents: envInt('BENCH_FRAUD_EVENTS', pick(200_000, 2_000)),
    embeddingEvents: envInt('BENCH_EMBEDDING_EVENTS', pick(5_000, 200)),
    latencySeconds: envNumber('BENCH_LATENCY_SECONDS', pick(8, 1)),
    memoryEvents: envInt('BENCH_MEMORY_EVENTS', pick(1_000_000, 5_000)),
    cacheEvents: envInt('BENCH_CACHE_EVENTS', pick(4_000, 200)),
    cacheDistinctRows: envInt('BENCH_CACHE_DISTINCT', pick(200, 20)),
    drainTimeoutMs: envNumber('BENCH_DRAIN_TIMEOUT_S', 300) * 1000,
    maxRunMs: envNumber('BENCH_MAX_SECONDS', 1_800) * 1000,
    resultsDir:
      process.env.BENCH_RESULTS_DIR ?? new URL('../../docs/benchmarks', import.meta.url).pathname,
  };
}
