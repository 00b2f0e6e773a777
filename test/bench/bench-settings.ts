/**
 * The benchmark's counts and limits, each overridable from the environment. The defaults keep a
 * whole run under about six minutes on a 2-core machine.
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

export const SECTIONS = ['ort', 'pass-through', 'worker', 'cache'] as const;
export type Section = (typeof SECTIONS)[number];

function envSections(): ReadonlySet<Section> {
  const raw = process.env.BENCH_SECTIONS;
  if (!raw) return new Set(SECTIONS);
  const picked = raw.split(',').map((s) => s.trim());
  for (const name of picked) {
    if (!(SECTIONS as readonly string[]).includes(name)) {
      throw new Error(`BENCH_SECTIONS: unknown section "${name}" (known: ${SECTIONS.join(', ')})`);
    }
  }
  return new Set(picked as Section[]);
}

export interface BenchSettings {
  /** BENCH_SECTIONS=ort,pass-through,worker,cache (default: all). */
  sections: ReadonlySet<Section>;
  /** BENCH_ORT_SECONDS: measuring time per model and batch size (default 1). */
  ortSecondsPerSize: number;
  /** BENCH_ORT_MIN_CALLS: at least this many timed calls per batch size (default 20). */
  ortMinCalls: number;
  /** BENCH_FRAUD_EVENTS: events pre-filled for the pass-through peer and the fraud worker (50,000). */
  fraudEvents: number;
  /** BENCH_EMBEDDING_EVENTS: events pre-filled for the embedding worker (5,000). */
  embeddingEvents: number;
  /** BENCH_CACHE_EVENTS: events of the repeated-input stream (4,000). */
  cacheEvents: number;
  /** BENCH_CACHE_DISTINCT: distinct feature rows in that stream (200). */
  cacheDistinctRows: number;
  /** BENCH_DRAIN_TIMEOUT_S: give up on one drain after this long (180). */
  drainTimeoutMs: number;
  /** BENCH_MAX_SECONDS: the whole run is aborted (workers killed) after this long (900). */
  maxRunMs: number;
}

export function benchSettings(): BenchSettings {
  return {
    sections: envSections(),
    ortSecondsPerSize: envNumber('BENCH_ORT_SECONDS', 1),
    ortMinCalls: envInt('BENCH_ORT_MIN_CALLS', 20),
    fraudEvents: envInt('BENCH_FRAUD_EVENTS', 50_000),
    embeddingEvents: envInt('BENCH_EMBEDDING_EVENTS', 5_000),
    cacheEvents: envInt('BENCH_CACHE_EVENTS', 4_000),
    cacheDistinctRows: envInt('BENCH_CACHE_DISTINCT', 200),
    drainTimeoutMs: envNumber('BENCH_DRAIN_TIMEOUT_S', 180) * 1000,
    maxRunMs: envNumber('BENCH_MAX_SECONDS', 900) * 1000,
  };
}
