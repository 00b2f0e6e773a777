import { kafkaConnectionSchema, type KafkaConnectionOptions } from '../config/worker-config.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { KafkajsTransport } from './kafkajs-transport.js';
import { loadLibrdkafka } from './librdkafka-binding.js';
import { LibrdkafkaTransport } from './librdkafka-transport.js';
import type { KafkaTransport } from './transport.js';

/**
 * The transport `kafka.client` asks for. "librdkafka" (the default) without its native module
 * stops start-up. "auto" is librdkafka when its native module loads here, else kafkajs with an
 * error-level line that says what is lost (lz4/zstd input, static membership, cooperative
 * rebalancing, off-thread heartbeats); an option kafkajs cannot honour (groupInstanceId) stops
 * start-up instead, naming it.
 */
export function createTransport(
  options: KafkaConnectionOptions,
  logger: Logger,
  /** Loads the native module (tests pass one that fails). */
  load: typeof loadLibrdkafka = loadLibrdkafka,
): KafkaTransport {
  if (options.client === 'kafkajs') return new KafkajsTransport(options, logger);
  const rdkafka = load();
  if (!(rdkafka instanceof Error)) {
    logger.debug({ librdkafka: rdkafka.librdkafkaVersion }, 'kafka transport: librdkafka');
    return new LibrdkafkaTransport(rdkafka, options, logger);
  }
  const why = `@confluentinc/kafka-javascript cannot load here (${errorMessage(rdkafka).split('\n')[0]})`;
  if (options.client === 'librdkafka') {
    throw new ConfigError(
      'kafka.client',
      `expected a loadable librdkafka: ${why}; install it (see README, "Kafka transport") or set kafka.client to kafkajs, got "librdkafka"`,
    );
  }
  if (options.groupInstanceId) {
    throw new ConfigError(
      'kafka.groupInstanceId',
      `kafka.client auto fell back to kafkajs (${why}), which has no static membership; install librdkafka or unset kafka.groupInstanceId, got "${options.groupInstanceId}"`,
    );
  }
  logger.error(
    `kafka.client auto: ${why}; FALLING BACK to kafkajs: lz4/zstd input cannot be read (exit 78 when met), no static membership, eager rebalancing`,
  );
  return new KafkajsTransport(options, logger);
}

/** Connection options for the CLI's tools (produce, tail, demo): defaults plus what they name. */
export function toolConnection(options: {
  brokers: string[];
  clientId: string;
  groupId?: string;
}): KafkaConnectionOptions {
  return kafkaConnectionSchema.parse({ groupId: `${options.clientId}-${process.pid}`, ...options });
}
