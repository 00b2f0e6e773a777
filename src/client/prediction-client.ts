import { randomUUID } from 'node:crypto';
import { deleteGroup, startGroupAtEnd } from '../kafka/topic-admin.js';
import { followTopics } from '../kafka/topic-follower.js';
import { kafkaSecretsOf } from '../config/config-secrets.js';
import { createLogger } from '../observability/logger.js';
import { REQUEST_HEADERS } from '../wire-contract.js';
import { connectionOptions } from './connection.js';
import {
  createEventProducer,
  type EventProducerOptions,
  type SendOptions,
} from './event-producer.js';
import { decodePrediction, type PredictionMessage } from './prediction-message.js';
import { clientRegistry } from './registry.js';

export interface PredictionClientOptions extends EventProducerOptions {
  /** Where the worker answers: must exist and match the worker's replies.allowedTopics. */
  replyTopic: string;
  /** Default of predict()'s timeoutMs. Default: 10000. */
  timeoutMs?: number;
}

/** No reply within the timeout: the worker may still answer later (on the output topic too). */
export class PredictionTimeoutError extends Error {
  override readonly name = 'PredictionTimeoutError';
  constructor(
    readonly correlationId: string,
    readonly timeoutMs: number,
  ) {
    super(`no prediction for request ${correlationId} within ${timeoutMs} ms`);
  }
}

export interface PredictionClient {
  /** Sends the event with a correlation id and the reply topic; resolves with its prediction. */
  predict(
    event: Record<string, unknown>,
    options?: SendOptions & { timeoutMs?: number },
  ): Promise<PredictionMessage>;
  close(): Promise<void>;
}

interface Pending {
  resolve(prediction: PredictionMessage): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** How long start-up waits for its reply consumer to get the reply topic's partitions. */
const READY_TIMEOUT_MS = 30_000;

/**
 * Request/reply over Kafka (the synchronous pattern): one reply consumer per client serves any
 * number of concurrent predict() calls, matched by correlation id. Its group is created at the
 * reply topic's end offsets before it joins, so no reply written after start-up can be missed,
 * and nothing is written to the reply topic but replies.
 */
export async function createPredictionClient(
  options: PredictionClientOptions,
): Promise<PredictionClient> {
  const clientId = 'kafka-inference-client';
  const pending = new Map<string, Pending>();
  const registry = clientRegistry(options.registry, clientId);
  const groupId = `${clientId}-replies-${randomUUID()}`;
  const connection = connectionOptions(options, clientId, groupId);
  const logger = createLogger('warn', clientId, kafkaSecretsOf(connection));

  await startGroupAtEnd(connection, groupId, options.replyTopic, logger);
  let assigned!: () => void;
  const ready = new Promise<void>((resolve) => (assigned = resolve));
  const replies = await followTopics(
    connection,
    { topics: [options.replyTopic], fromBeginning: false },
    async (_topic, _partition, record) => {
      const id = record.headers[REQUEST_HEADERS.correlationId]?.toString();
      const waiting = id === undefined ? undefined : pending.get(id);
      if (!waiting) return; // another client's reply, or one that timed out
      pending.delete(id!);
      clearTimeout(waiting.timer);
      try {
        waiting.resolve(await decodePrediction(record, registry));
      } catch (error) {
        waiting.reject(error as Error);
      }
    },
    logger,
    () => assigned(),
  );
  const stopReplies = async () => {
    await replies.stop();
    await deleteGroup(connection, groupId, logger);
  };
  // Replies are not missed before the join (the group starts at the end offsets), but a first
  // predict() would spend its timeout waiting for it.
  let timer: NodeJS.Timeout | undefined;
  const joined = await Promise.race([
    ready.then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if (!joined) {
    await stopReplies();
    throw new Error(
      `reply consumer on ${options.replyTopic} got no partitions in ${READY_TIMEOUT_MS} ms`,
    );
  }

  const producer = await createEventProducer(options);
  const defaultTimeout = options.timeoutMs ?? 10_000;
  return {
    predict: (event, { timeoutMs = defaultTimeout, ...send } = {}) => {
      const correlationId = randomUUID();
      const answer = new Promise<PredictionMessage>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(correlationId);
          reject(new PredictionTimeoutError(correlationId, timeoutMs));
        }, timeoutMs);
        pending.set(correlationId, { resolve, reject, timer });
      });
      // Settled by whichever comes first; until then this keeps an early timeout handled.
      answer.catch(() => undefined);
      const headers = {
        ...send.headers,
        [REQUEST_HEADERS.replyTopic]: options.replyTopic,
        [REQUEST_HEADERS.correlationId]: correlationId,
      };
      return producer.send(event, { ...send, headers }).then(
        () => answer,
        (error: unknown) => {
          const waiting = pending.get(correlationId);
          if (waiting) clearTimeout(waiting.timer);
          pending.delete(correlationId);
          throw error;
        },
      );
    },
    close: async () => {
      for (const [id, waiting] of pending) {
        clearTimeout(waiting.timer);
        waiting.reject(new Error(`prediction client closed before request ${id} was answered`));
      }
      pending.clear();
      await Promise.all([producer.close(), stopReplies()]);
    },
  };
}
