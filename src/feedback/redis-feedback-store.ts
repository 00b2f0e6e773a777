import type { Redis, RedisOptions } from 'ioredis';
import { failFastRedis } from '../cache/fail-fast-redis.js';
import { throttledWarning } from '../observability/throttled-warning.js';
import type { Logger } from 'pino';
import { RetriableError, errorMessage } from '../errors.js';
import type {
  FeedbackStore,
  JoinResult,
  OutcomeKey,
  RememberedEvent,
  StoredAnswer,
} from './feedback-store.js';

/**
 * One call per acknowledged send, whatever its size: KEYS are the events' keys, ARGV[1] the
 * window in ms, then one value per key (the event's answers).
 */
const REMEMBER_SCRIPT = `
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1])
end
return #KEYS
`;

/**
 * Atomic per event, whichever worker runs it. KEYS[1] holds the answers, KEYS[2] the coordinates
 * of the outcome that joined them. No answers → nil (unmatched); joined by another outcome → 1
 * (duplicate); else marks it (if unmarked, for the window) and returns the answers.
 */
const JOIN_SCRIPT = `
local answers = redis.call('GET', KEYS[1])
if not answers then return false end
local mark = redis.call('GET', KEYS[2])
if mark and mark ~= ARGV[1] then return 1 end
if not mark then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end
return answers
`;

/** Joins wait on it (and retry), so it may be longer than the cache's lookups. */
const COMMAND_TIMEOUT_MS = 2_000;

type FeedbackRedis = Redis & {
  feedbackRemember(keyCount: number, ...keysAndArgs: string[]): Promise<number>;
};
type JoinPipeline = ReturnType<Redis['pipeline']> & {
  feedbackJoin(answersKey: string, markKey: string, mark: string, windowMs: number): unknown;
};

/**
 * Predictions in Redis for the outcome join: a string per event (`<prefix>:<model>:<id>`, the
 * answers of every version that answered it as JSON), expiring `windowMs` after it was written,
 * and a second key once an outcome joined it. Every worker of the group writes and joins there,
 * so an outcome finds its prediction wherever it was made. Writing costs one script call per
 * acknowledged send, joining one per fetched batch of outcomes. Commands fail fast while Redis is
 * down: the join retries, remembering is counted lost.
 */
export class RedisFeedbackStore implements FeedbackStore {
  private readonly redis: FeedbackRedis;

  constructor(
    url: string,
    connection: RedisOptions,
    private readonly keyPrefix: string,
    private readonly model: string,
    private readonly windowMs: number,
    logger: Logger,
  ) {
    const warn = throttledWarning(logger);
    const redis = failFastRedis(url, connection, COMMAND_TIMEOUT_MS, (error) =>
      warn({ err: errorMessage(error) }, 'feedback store: redis connection error'),
    );
    redis.defineCommand('feedbackRemember', { lua: REMEMBER_SCRIPT });
    redis.defineCommand('feedbackJoin', { numberOfKeys: 2, lua: JOIN_SCRIPT });
    this.redis = redis as FeedbackRedis;
  }

  async remember(events: RememberedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const keys = new Array<string>(events.length);
    const values = new Array<string>(events.length);
    for (let i = 0; i < events.length; i++) {
      keys[i] = this.key(events[i]!.id);
      values[i] = JSON.stringify(events[i]!.answers);
    }
    try {
      await this.redis.feedbackRemember(keys.length, ...keys, String(this.windowMs), ...values);
    } catch (error) {
      throw new RetriableError(`feedback store refused answers: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  async join(outcomes: OutcomeKey[]): Promise<JoinResult[]> {
    if (outcomes.length === 0) return [];
    const pipeline = this.redis.pipeline() as JoinPipeline;
    for (const { id, mark } of outcomes) {
      const key = this.key(id);
      pipeline.feedbackJoin(key, `${key}:joined`, mark, this.windowMs);
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      throw new RetriableError(`feedback join failed: ${errorMessage(error)}`, { cause: error });
    }
    if (!results) throw new RetriableError('feedback join failed: no reply');
    return results.map(([error, reply]) => {
      if (error) throw new RetriableError(`feedback join failed: ${error.message}`);
      if (reply === null) return 'unmatched';
      if (reply === 1) return 'duplicate';
      return answersOf(reply);
    });
  }

  /** Waits for commands in flight (the last acknowledged predictions), then disconnects. */
  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private key(id: string): string {
    return `${this.keyPrefix}:${this.model}:${id}`;
  }
}

/** The stored answers; anything unreadable (written by something else under the prefix) is none. */
export function answersOf(reply: unknown): StoredAnswer[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(reply));
  } catch {
    return [];
  }
  return Array.isArray(parsed) ? parsed.filter(isStoredAnswer) : [];
}

function isStoredAnswer(value: unknown): value is StoredAnswer {
  if (typeof value !== 'object' || value === null) return false;
  const { role, version, prediction } = value as Record<string, unknown>;
  if (role !== 'primary' && role !== 'canary' && role !== 'shadow') return false;
  if (typeof version !== 'string' || typeof prediction !== 'object' || prediction === null)
    return false;
  const answer = prediction as Record<string, unknown>;
  if (answer.kind === 'regression') return typeof answer.value === 'number';
  return (
    answer.kind === 'classification' &&
    typeof answer.label === 'string' &&
    Array.isArray(answer.topK) &&
    answer.topK.every(
      (ranked: unknown) =>
        typeof ranked === 'object' &&
        ranked !== null &&
        typeof (ranked as Record<string, unknown>).label === 'string' &&
        typeof (ranked as Record<string, unknown>).probability === 'number',
    )
  );
}
