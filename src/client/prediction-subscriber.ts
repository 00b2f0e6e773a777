import { kafkaSecretsOf } from '../config/config-secrets.js';
import { errorMessage } from '../errors.js';
import { followTopics } from '../kafka/topic-follower.js';
import { createLogger } from '../observability/logger.js';
import { connectionOptions, type ClientConnection } from './connection.js';
import { decodePrediction, type PredictionMessage } from './prediction-message.js';
import { clientRegistry, type ClientRegistryOptions } from './registry.js';

export interface SubscribeOptions extends ClientConnection {
  /** The worker's output topic (or a reply topic). */
  topic: string;
  /** Consumer group of the subscriber. */
  groupId: string;
  /** Start at the beginning when the group has no position (default: only new predictions). */
  fromBeginning?: boolean;
  /** Avro predictions: the schema registry. */
  registry?: ClientRegistryOptions;
}

export interface Subscription {
  /** Leaves the group. */
  close(): Promise<void>;
  /**
   * Rejects when the consumer failed for good (authentication, a vanished topic); never
   * resolves otherwise. Left unawaited, it does not raise an unhandled rejection.
   */
  failed: Promise<never>;
}

/**
 * Calls `handler` with each prediction of `topic`, decoded (JSON or Avro) into a typed object:
 * label, confidence, top-k, value and interval, model version, the source event's coordinates.
 * Positions are committed after each batch is handled (at-least-once, like the worker).
 */
export async function subscribePredictions(
  options: SubscribeOptions,
  handler: (prediction: PredictionMessage) => Promise<void> | void,
): Promise<Subscription> {
  const clientId = 'kafka-inference-client';
  const registry = clientRegistry(options.registry, clientId);
  const connection = connectionOptions(options, clientId, options.groupId);
  const logger = createLogger('warn', clientId, kafkaSecretsOf(connection));
  const follower = await followTopics(
    connection,
    { topics: [options.topic], fromBeginning: options.fromBeginning ?? false, commit: true },
    async (topic, partition, record) => {
      // A record without a value (a tombstone) is no prediction: skipped, like a record that is
      // not one.
      if (record.value === null || record.value.length === 0) return;
      let prediction: PredictionMessage;
      try {
        prediction = await decodePrediction(record, registry);
      } catch (error) {
        logger.warn(
          { err: errorMessage(error), topic, partition, offset: record.offset },
          'not a prediction record; skipped',
        );
        return;
      }
      await handler(prediction);
    },
    logger,
  );
  const failed = follower.failed.then((error) => Promise.reject(error));
  failed.catch(() => undefined); // handled here too: unawaited, it must not crash the caller
  return { close: () => follower.stop(), failed };
}
