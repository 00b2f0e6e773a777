/**
 * kafka-inference-worker/client: produce events, read predictions and ask for one synchronously,
 * with the worker's own codecs and feature rules.
 */
export { createEventProducer, InvalidEventError } from './event-producer.js';
export type { EventProducer, EventProducerOptions, SendOptions } from './event-producer.js';
export { subscribePredictions } from './prediction-subscriber.js';
export type { Subscription, SubscribeOptions } from './prediction-subscriber.js';
export { createPredictionClient, PredictionTimeoutError } from './prediction-client.js';
export type { PredictionClient, PredictionClientOptions } from './prediction-client.js';
export type { PredictionMessage } from './prediction-message.js';
export type { ClientConnection } from './connection.js';
export type { ClientRegistryOptions } from './registry.js';
export { REQUEST_HEADERS } from '../wire-contract.js';
