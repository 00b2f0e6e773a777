import { z } from 'zod';
import { kafkaConnectionSchema, type KafkaConnectionOptions } from '../config/worker-config.js';
import { validateAgainst } from '../config/load-config.js';

/** How a client reaches the cluster: the brokers, and any other `kafka.*` key of the worker config. */
export interface ClientConnection {
  /** Bootstrap servers: ["host:9092", ...] or "host:9092,host2:9092". */
  brokers: string[] | string;
  /** TLS, SASL, client ("librdkafka" | "kafkajs"), ... as in the worker config's `kafka` section. */
  kafka?: Partial<Omit<z.input<typeof kafkaConnectionSchema>, 'brokers' | 'groupId'>>;
}

/** The full connection options, validated like the worker's (a bad key is a ConfigError). */
export function connectionOptions(
  connection: ClientConnection,
  clientId: string,
  groupId: string,
): KafkaConnectionOptions {
  const brokers =
    typeof connection.brokers === 'string' ? connection.brokers.split(',') : connection.brokers;
  return validateAgainst(kafkaConnectionSchema, 'kafka', {
    clientId,
    groupId,
    ...connection.kafka,
    brokers,
  });
}
