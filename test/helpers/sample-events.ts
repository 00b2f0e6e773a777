/**
 * Deterministic sample events for the example models in `models/`.
 *
 * Every event is derived only from its index (and a fixed per-model seed), so `fraudEvent(17)` is
 * the same object on every machine and every run. Events are plain JSON objects, exactly what a
 * producer would put on the input topic: an `id` string plus the model's features.
 *
 * `models/generate.ts` uses `fraudEvent(0)` and `embeddingEvent(0)` for the committed
 * `models/<name>/example-event.json` files.
 */

import { seededRandom } from '../../src/cli/sample-events.js';

/** mulberry32, the worker's own seeded PRNG (src/cli/sample-events.ts): floats in [0, 1). */
export const mulberry32 = seededRandom;

/** Mixes a stream seed and an event index into one well-spread 32-bit seed. */
function eventSeed(streamSeed: number, index: number): number {
  let h = (streamSeed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hiInclusive: number): number {
    return lo + Math.floor(this.next() * (hiInclusive - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** Standard normal via Box-Muller (one value per call, the sine half is dropped). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
  logNormal(mu: number, sigma: number): number {
    return Math.exp(mu + sigma * this.normal());
  }
  pick<T>(items: readonly T[], weights: readonly number[]): T {
    const total = weights.reduce((s, w) => s + w, 0);
    let r = this.next() * total;
    for (let i = 0; i < items.length; i++) {
      r -= weights[i] ?? 0;
      if (r < 0) return items[i] as T;
    }
    return items[items.length - 1] as T;
  }
}

const round = (x: number, decimals: number): number => {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
};
const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

const FRAUD_STREAM_SEED = 0x0f4a0d01;
const EMBEDDING_STREAM_SEED = 0x0e4b0e01;

export const FRAUD_CHANNELS = ['web', 'pos', 'atm'] as const;
export type FraudChannel = (typeof FRAUD_CHANNELS)[number];

export interface FraudEvent {
  id: string;
  amount: number;
  hour_of_day: number;
  day_of_week: number;
  account_age_days: number;
  merchant_risk: number;
  txn_count_1h: number;
  txn_count_24h: number;
  amount_sum_24h: number;
  avg_amount_30d: number;
  amount_to_avg_ratio: number;
  distance_from_home_km: number;
  minutes_since_last_txn: number;
  failed_logins_24h: number;
  card_age_days: number;
  num_devices_30d: number;
  ip_risk_score: number;
  email_age_days: number;
  chargebacks_90d: number;
  merchant_txn_count_24h: number;
  customer_age_years: number;
  credit_limit: number;
  balance_utilization: number;
  is_foreign: boolean;
  is_new_device: boolean;
  card_present: boolean;
  billing_shipping_match: boolean;
  is_recurring: boolean;
  channel: FraudChannel;
}

/** A card transaction for `fraud-mlp` (any version) with every feature present. */
export function fraudEvent(i: number): FraudEvent {
  const r = new Rng(eventSeed(FRAUD_STREAM_SEED, i));
  const channel = r.pick(FRAUD_CHANNELS, [0.55, 0.35, 0.1]);
  const amount =
    channel === 'atm'
      ? r.pick([20, 50, 100, 200, 300, 500], [3, 5, 5, 3, 1, 1])
      : round(clamp(r.logNormal(3.6, 1.2), 0.5, 20000), 2);
  const avgAmount30d = round(clamp(r.logNormal(3.8, 0.8), 1, 5000), 2);
  const txnCount1h = Math.min(12, Math.floor(r.exponential(0.8)));
  const txnCount24h = txnCount1h + Math.min(60, Math.floor(r.exponential(4)));
  const accountAgeDays = Math.min(7300, Math.floor(r.exponential(900)));
  return {
    id: `fraud-${String(i).padStart(6, '0')}`,
    amount,
    hour_of_day: r.pick(
      [...Array(24).keys()],
      [2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 9, 10, 9, 8, 8, 9, 10, 10, 9, 8, 6, 4, 3],
    ),
    day_of_week: r.int(0, 6),
    account_age_days: accountAgeDays,
    merchant_risk: round(r.uniform() ** 2.5, 3),
    txn_count_1h: txnCount1h,
    txn_count_24h: txnCount24h,
    amount_sum_24h: round(amount + txnCount24h * r.logNormal(3.4, 0.9), 2),
    avg_amount_30d: avgAmount30d,
    amount_to_avg_ratio: round(amount / avgAmount30d, 3),
    distance_from_home_km: round(Math.min(15000, r.exponential(25)), 1),
    minutes_since_last_txn: Math.floor(Math.min(43200, r.exponential(720))),
    failed_logins_24h: r.chance(0.9) ? 0 : r.int(1, 6),
    card_age_days: Math.min(accountAgeDays, Math.floor(r.exponential(600))),
    num_devices_30d: r.pick([1, 2, 3, 4, 5], [60, 25, 9, 4, 2]),
    ip_risk_score: round(r.uniform() ** 3, 3),
    email_age_days: Math.floor(r.exponential(1500)),
    chargebacks_90d: r.pick([0, 1, 2, 3], [95, 3.5, 1, 0.5]),
    merchant_txn_count_24h: Math.floor(r.exponential(300)),
    customer_age_years: r.int(18, 89),
    credit_limit: r.pick(
      [500, 1000, 2000, 3000, 5000, 7500, 10000, 15000],
      [2, 4, 5, 5, 4, 2, 1, 1],
    ),
    balance_utilization: round(r.uniform() ** 1.5, 3),
    is_foreign: r.chance(0.08),
    is_new_device: r.chance(0.12),
    card_present: channel !== 'web' && r.chance(0.97),
    billing_shipping_match: r.chance(0.86),
    is_recurring: channel === 'web' && r.chance(0.25),
    channel,
  };
}

/**
 * The same transaction as `fraudEvent(i)` with only `id` and the required features
 * (`amount`, `hour_of_day`, `account_age_days`), to exercise feature defaults.
 */
export function fraudEventMinimal(
  i: number,
): Pick<FraudEvent, 'id' | 'amount' | 'hour_of_day' | 'account_age_days'> {
  const e = fraudEvent(i);
  return {
    id: e.id,
    amount: e.amount,
    hour_of_day: e.hour_of_day,
    account_age_days: e.account_age_days,
  };
}

export const EMBEDDING_LENGTH = 256;

export interface EmbeddingEvent {
  id: string;
  embedding: number[];
}

/** A 256-dim standardized embedding for `embedding-mlp` (values ~ N(0, 1), 4 decimals). */
export function embeddingEvent(i: number): EmbeddingEvent {
  const r = new Rng(eventSeed(EMBEDDING_STREAM_SEED, i));
  const embedding: number[] = [];
  for (let k = 0; k < EMBEDDING_LENGTH; k++) embedding.push(round(r.normal(), 4));
  return { id: `emb-${String(i).padStart(6, '0')}`, embedding };
}

/** Sample event `i` for a model by name (`fraud-mlp` or `embedding-mlp`). */
export function sampleEvent(modelName: string, i: number): FraudEvent | EmbeddingEvent {
  switch (modelName) {
    case 'fraud-mlp':
      return fraudEvent(i);
    case 'embedding-mlp':
      return embeddingEvent(i);
    default:
      throw new Error(`no sample events for model '${modelName}'`);
  }
}
