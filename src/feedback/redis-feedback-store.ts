import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { RetriableError, errorMessage } from '../errors.js';
import type { Prediction } from '../model/postprocessor.js';
import type {
  AnswerRole,
  FeedbackStore,
  JoinResult,
  OutcomeKey,
  RememberedEvent,
  StoredAnswer,
} from './feedback-store.js';

/** The hash field that marks an event as joined, with the coordinates of the outcome that did. */
const JOINED_FIELD = '~outcome';

/**
 * Atomic per event, whichever worker runs it: no entry → nil (unmatched); marked by another
 * outcome → 1 (duplicate); else marks it (if unmarked) and returns its fields.
 */
const JOIN_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if redis.call('HSETNX', KEYS[1], '${JOINED_FIELD}', ARGV[1]) == 0 and
   redis.call('HGET', KEYS[1], '${JOINED_FIELD}') ~= ARGV[1] then return 1 end
return redis.call('HGETALL', KEYS[1])
`;

type JoiningRedis = Redis & {
  feedbackJoin(key: string, mark: string): Promise<unknown>;
};

/**
 * Predictions in Redis for the outcome join: one hash per event (`<prefix>:<model>:<id>`), a
 * field per role holding that version's answer, expiring `windowMs` after the last answer. Every
 * worker of the group writes and joins there, so an outcome finds its prediction wherever it was
 * made. Commands fail fast while Redis is down: the join retries, remembering is counted lost.
 */
export class RedisFeedbackStore implements FeedbackStore {
  private readonly redis: JoiningRedis;

  constructor(
    url: string,
    connection: RedisOptions,
    private readonly keyPrefix: string,
    private readonly model: string,
    private readonly windowMs: number,
    logger: Logger,
  ) {
    const redis = new Redis(url, {
      ...connection,
      enableOfflineQueue: false,
      commandTimeout: 2_000,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    });
    redis.defineCommand('feedbackJoin', { numberOfKeys: 1, lua: JOIN_SCRIPT });
    let lastWarning = 0;
    redis.on('error', (error) => {
      if (Date.now() - lastWarning < 10_000) return;
      lastWarning = Date.now();
      logger.warn({ err: errorMessage(error) }, 'feedback store: redis connection error');
    });
    this.redis = redis as JoiningRedis;
  }

  async remember(events: RememberedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { id, answers } of events) {
      const key = this.key(id);
      const fields: string[] = [];
      for (const { role, version, prediction } of answers) {
        fields.push(role, JSON.stringify({ version, prediction }));
      }
      pipeline.hset(key, ...fields).pexpire(key, this.windowMs);
    }
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error)?.[0];
    if (failed) throw new RetriableError(`feedback store refused answers: ${failed.message}`);
  }

  async join(outcomes: OutcomeKey[]): Promise<JoinResult[]> {
    if (outcomes.length === 0) return [];
    const pipeline = this.redis.pipeline() as ReturnType<Redis['pipeline']> & {
      feedbackJoin(key: string, mark: string): unknown;
    };
    for (const { id, mark } of outcomes) pipeline.feedbackJoin(this.key(id), mark);
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
      return answersOf(reply as string[]);
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

/** HGETALL's flat [field, value, ...] as answers; the join mark and unreadable values are skipped. */
function answersOf(flat: string[]): StoredAnswer[] {
  const answers: StoredAnswer[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const role = flat[i] as AnswerRole;
    if (role !== 'primary' && role !== 'canary' && role !== 'shadow') continue;
    try {
      const { version, prediction } = JSON.parse(flat[i + 1]!) as {
        version: string;
        prediction: Prediction;
      };
      answers.push({ role, version, prediction });
    } catch {
      // written by something else under our prefix: not an answer
    }
  }
  return answers;
}
