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
  /** Rejects when the consumer failed for good (authentication, a vanished topic). */
  failed: Promise<Error>;
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
  const follower = await followTopics(
    connectionOptions(options, clientId, options.groupId),
    { topics: [options.topic], fromBeginning: options.fromBeginning ?? false, commit: true },
    async (_topic, _partition, record) => handler(await decodePrediction(record, registry)),
    createLogger('warn', clientId),
  );
  return { close: () => follower.stop(), failed: follower.failed };
}
