import kafkajs, {
  Kafka,
  Partitioners,
  logLevel,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type KafkaMessage,
  type Producer,
  type logCreator,
} from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import type { KafkaConnectionOptions } from '../config/worker-config.js';
import {
  CommitFailedError,
  KafkaFatalError,
  ProduceFailedError,
  errorMessage,
  type ProduceFailureReason,
} from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { kafkajsSecurity } from './security.js';
import { KafkajsClusterAdmin } from './kafkajs-cluster-admin.js';
import type {
  ConsumedRecord,
  ConsumerHandlers,
  ConsumerSubscription,
  ClusterAdmin,
  ConsumerTransport,
  KafkaTransport,
  OutgoingRecord,
  ProducerTransport,
  RecordHeaders,
  TopicPartitionOffset,
} from './transport.js';
import { parsePartitionKey, partitionKey } from './transport.js';

// kafkajs exports its codec registry on the CommonJS object only, not as named ESM exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;

// kafkajs reads gzip itself; snappy comes from its own plugin (pure JavaScript). No maintained
// plugin builds here for lz4 or zstd, so those are a clear fatal error (see codecFailure).
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;

const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const;

/** A kafkajs client from the worker's kafka options (brokers, TLS, SASL), logging through pino. */
export function createKafkajsClient(
  options: Pick<KafkaConnectionOptions, 'brokers' | 'clientId' | 'ssl' | 'sasl'>,
  logger: Logger,
): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ...kafkajsSecurity(options),
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
    // Broker restarts are ridden out by our own retry loops; keep kafkajs's bounded.
    retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 8 },
  });
}

/** The pure-JavaScript transport: kafkajs, eager rebalancing, heartbeats from this thread. */
export class KafkajsTransport implements KafkaTransport {
  readonly name = 'kafkajs';
  private readonly kafka: Kafka;

  constructor(
    private readonly options: KafkaConnectionOptions,
    private readonly logger: Logger,
  ) {
    if (options.compression === 'lz4' || options.compression === 'zstd') {
      throw new KafkaFatalError(
        `kafka.compression "${options.compression}" cannot be written by the kafkajs transport; use kafka.client librdkafka, or gzip/snappy`,
      );
    }
    this.kafka = createKafkajsClient(options, logger);
  }

  consumer(): ConsumerTransport {
    return new KafkajsConsumer(this.kafka, this.options, this.logger);
  }

  admin(): ClusterAdmin {
    return new KafkajsClusterAdmin(this.options, this.logger);
  }

  producer(): ProducerTransport {
    return new KafkajsProducer(this.kafka, COMPRESSION[this.options.compression]);
  }
}

class KafkajsConsumer implements ConsumerTransport {
  private readonly consumer: Consumer;
  private readonly assigned = new Set<string>();
  private heartbeat: (() => Promise<void>) | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private disconnecting: Promise<void> | undefined;

  constructor(
    kafka: Kafka,
    private readonly options: KafkaConnectionOptions,
    private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      maxBytesPerPartition: options.maxBytesPerPartition,
      maxWaitTimeInMs: options.fetchMaxWaitMs,
      allowAutoTopicCreation: false,
      // Records of open or aborted transactions are never read (an exactly-once worker's outputs).
      readUncommitted: false,
    });
  }

  async run(subscription: ConsumerSubscription, handlers: ConsumerHandlers): Promise<void> {
    const { consumer } = this;
    // kafkajs is eager: every join is a new generation that may have moved any partition, so the
    // worker drops all per-partition state at each rebalance and each join.
    const revokeAll = (): Promise<void> => {
      const partitions = [...this.assigned].map(parsePartitionKey);
      this.assigned.clear();
      return partitions.length > 0 ? handlers.onRevoked(partitions) : Promise.resolve();
    };
    consumer.on(consumer.events.REBALANCING, () => void revokeAll());
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      void revokeAll();
      const partitions = Object.entries(payload.memberAssignment).flatMap(([topic, ids]) =>
        ids.map((partition) => ({ topic, partition })),
      );
      for (const tp of partitions) this.assigned.add(partitionKey(tp));
      handlers.onAssigned(partitions);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.logger.error(
        { err: errorMessage(payload.error), restart: payload.restart },
        'consumer crashed',
      );
      if (!payload.restart) handlers.onFatal(codecFailure(payload.error) ?? payload.error);
    });

    await connectOrFail(() => consumer.connect());
    await consumer.subscribe({
      topics: subscription.topics instanceof RegExp ? [subscription.topics] : subscription.topics,
      fromBeginning: subscription.fromBeginning,
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onEachBatch(payload, handlers),
    });
    // kafkajs heartbeats between fetches only: keep the membership alive while a batch handler
    // waits (backpressure) or the main thread is busy with the batch's work.
    this.heartbeatTimer = setInterval(() => {
      this.heartbeat?.().catch((error: unknown) =>
        this.logger.debug({ err: errorMessage(error) }, 'heartbeat failed (kafkajs will rejoin)'),
      );
    }, this.options.heartbeatIntervalMs);
  }

  private async onEachBatch(
    { batch, resolveOffset, isRunning, isStale, heartbeat }: EachBatchPayload,
    handlers: ConsumerHandlers,
  ): Promise<void> {
    const key = partitionKey(batch);
    this.heartbeat = heartbeat;
    try {
      const records = batch.messages.map(toConsumedRecord);
      const taken = await handlers.onBatch({
        topic: batch.topic,
        partition: batch.partition,
        records,
        highWatermark: batch.highWatermark,
        isCurrent: () => isRunning() && !isStale() && this.assigned.has(key),
      });
      // Taken records are not fetched again; the rest are, from the first one not taken.
      if (taken > 0) resolveOffset(records[taken - 1]!.offset);
      await heartbeat();
    } finally {
      this.heartbeat = undefined;
    }
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    try {
      await this.consumer.commitOffsets(offsets);
    } catch (error) {
      throw new CommitFailedError(`commit failed: ${errorMessage(error)}`, { cause: error });
    }
  }

  pauseAll(): void {
    const topics = new Set([...this.assigned].map((key) => parsePartitionKey(key).topic));
    try {
      this.consumer.pause([...topics].map((topic) => ({ topic })));
    } catch (error) {
      // A consumer that crashed (or never ran) fetches nothing: there is nothing to pause.
      this.logger.debug({ err: errorMessage(error) }, 'pause skipped');
    }
  }

  disconnect(): Promise<void> {
    this.disconnecting ??= (async () => {
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      await this.consumer.disconnect();
    })();
    return this.disconnecting;
  }
}

class KafkajsProducer implements ProducerTransport {
  private readonly producer: Producer;

  constructor(
    kafka: Kafka,
    private readonly compression: kafkajs.CompressionTypes,
  ) {
    // Keyed outputs land by the Java client's murmur2 partitioning, like any other producer's.
    this.producer = kafka.producer({
      allowAutoTopicCreation: false,
      idempotent: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  connect(): Promise<void> {
    return connectOrFail(() => this.producer.connect());
  }

  async send(records: OutgoingRecord[]): Promise<void> {
    const byTopic = new Map<string, OutgoingRecord[]>();
    for (const record of records) {
      const list = byTopic.get(record.topic);
      if (list) list.push(record);
      else byTopic.set(record.topic, [record]);
    }
    try {
      await this.producer.sendBatch({
        acks: -1,
        compression: this.compression,
        topicMessages: [...byTopic].map(([topic, list]) => ({
          topic,
          messages: list.map(({ key, value, headers }) => ({ key, value, headers })),
        })),
      });
    } catch (error) {
      throw produceFailure(error);
    }
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

function toConsumedRecord(message: KafkaMessage): ConsumedRecord {
  return {
    offset: message.offset,
    key: message.key,
    value: message.value,
    headers: toHeaders(message.headers),
    timestamp: Number(message.timestamp),
  };
}

function toHeaders(headers: IHeaders | undefined): RecordHeaders {
  const result: RecordHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last = Array.isArray(value) ? value.at(-1) : value;
    if (last !== undefined) result[name] = Buffer.isBuffer(last) ? last : Buffer.from(last);
  }
  return result;
}

/** kafkajs errors carry a protocol type name (e.g. MESSAGE_TOO_LARGE) and a retriable flag. */
function produceFailure(error: unknown): ProduceFailedError {
  const cause = rootCause(error);
  const type = (cause as { type?: string }).type ?? '';
  const reasons: Record<string, ProduceFailureReason> = {
    MESSAGE_TOO_LARGE: 'too-large',
    RECORD_LIST_TOO_LARGE: 'too-large',
    TOPIC_AUTHORIZATION_FAILED: 'authorization',
    CLUSTER_AUTHORIZATION_FAILED: 'authorization',
    UNKNOWN_TOPIC_OR_PARTITION: 'unknown-topic',
    INVALID_RECORD: 'invalid-record',
  };
  const reason = reasons[type] ?? 'transient';
  return new ProduceFailedError(reason, `produce failed: ${errorMessage(cause)}`, {
    cause: error,
  });
}

/** kafkajs wraps the broker's error in retry errors; the innermost one says what happened. */
function rootCause(error: unknown): unknown {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  const original = (current as { originalError?: unknown }).originalError;
  return original instanceof Error ? rootCause(original) : current;
}

/** "LZ4 compression not implemented" → a fatal error that says which codec and what to do. */
function codecFailure(error: unknown): KafkaFatalError | undefined {
  const message = errorMessage(rootCause(error));
  const match = /^(\w+) compression not implemented/i.exec(message);
  if (!match) return undefined;
  return new KafkaFatalError(
    `an input record batch is compressed with ${match[1]!.toLowerCase()}, which the kafkajs transport cannot read (it reads gzip and snappy); set kafka.client to librdkafka (or auto, with @confluentinc/kafka-javascript installed)`,
    { cause: error },
  );
}

/** Authentication and TLS failures at connect are fatal: retrying the same secret cannot help. */
async function connectOrFail(connect: () => Promise<void>): Promise<void> {
  try {
    await connect();
  } catch (error) {
    const cause = rootCause(error);
    const name = cause instanceof Error ? cause.name : '';
    if (/SASL|Authentication/i.test(name) || /certificate|SSL|TLS/i.test(errorMessage(cause))) {
      throw new KafkaFatalError(`cannot connect to Kafka: ${errorMessage(cause)}`, {
        cause: error,
      });
    }
    throw error;
  }
}

const KAFKA_LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** Routes kafkajs's own logs into pino, under a "kafkajs" child logger. */
function kafkaLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }) => {
      const { message, ...extra } = log;
      child[KAFKA_LEVELS[level] ?? 'info'](extra, message);
    };
}
