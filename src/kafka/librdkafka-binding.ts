import { createRequire } from 'node:module';

/**
 * The part of @confluentinc/kafka-javascript's own (node-rdkafka style) API this worker uses,
 * typed here so that the worker builds and runs, on kafkajs, where the native module is absent.
 */
export interface RdKafkaError extends Error {
  code: number;
  isFatal?: boolean;
  isRetriable?: boolean;
  /** A transactional call failed in a way that only aborting the transaction can clear. */
  isTxnRequiresAbort?: boolean;
}

export type RdHeaders = Record<string, Buffer | string>[];

export interface RdMessage {
  topic: string;
  partition: number;
  offset: number;
  key?: Buffer | string | null;
  value: Buffer | null;
  timestamp?: number;
  headers?: RdHeaders;
}

export interface RdTopicPartition {
  topic: string;
  partition: number;
  offset?: number;
}

/** A librdkafka log line; severity is syslog's (3 error, 4 warning, 6 info, 7 debug). */
export interface RdLog {
  severity: number;
  fac: string;
  message: string;
}

type Config = Record<string, string | number | boolean | ((...args: never[]) => void)>;

interface ClientEvents {
  'event.error': (err: RdKafkaError) => void;
  'event.log': (log: RdLog) => void;
}

interface RdClient<Events extends ClientEvents> {
  connect(options: { timeout?: number }, cb: (err: RdKafkaError | null) => void): void;
  disconnect(cb: (err: RdKafkaError | null) => void): void;
  isConnected(): boolean;
  on<E extends keyof Events>(event: E, listener: Events[E]): this;
}

interface ConsumerEvents extends ClientEvents {
  /** A commit's outcome (config offset_commit_cb); `err` is set when any partition failed. */
  'offset.commit': (err: RdKafkaError | null | undefined, offsets: RdTopicPartition[]) => void;
}

interface ProducerEvents extends ClientEvents {
  'delivery-report': (err: RdKafkaError | null, report: { opaque: unknown }) => void;
}

export interface RdKafkaConsumer extends RdClient<ConsumerEvents> {
  subscribe(topics: (string | RegExp)[]): void;
  consume(count: number, cb: (err: RdKafkaError | null, messages: RdMessage[]) => void): void;
  setDefaultConsumeTimeout(ms: number): void;
  setDefaultIsTimeoutOnlyForFirstMessage(value: boolean): void;
  /** Queues a commit; its outcome arrives later as an 'offset.commit' event. */
  commit(offsets: RdTopicPartition[]): void;
  incrementalAssign(partitions: RdTopicPartition[]): void;
  incrementalUnassign(partitions: RdTopicPartition[]): void;
  assign(partitions: RdTopicPartition[]): void;
  unassign(): void;
  assignmentLost(): boolean;
  rebalanceProtocol(): 'COOPERATIVE' | 'EAGER' | 'NONE';
  seek(tp: RdTopicPartition, timeoutMs: number, cb: (err: RdKafkaError | null) => void): void;
  pause(partitions: RdTopicPartition[]): void;
  assignments(): RdTopicPartition[];
  getWatermarkOffsets(topic: string, partition: number): { highOffset: number; lowOffset: number };
}

export interface RdProducer extends RdClient<ProducerEvents> {
  produce(
    topic: string,
    partition: number | null,
    value: Buffer | null,
    key: Buffer | string | null,
    timestamp: number | null,
    opaque: unknown,
    headers: RdHeaders,
  ): void;
  setPollInBackground(value: boolean): void;
  flush(timeoutMs: number, cb: (err: RdKafkaError | null) => void): void;
  initTransactions(timeoutMs: number, cb: (err: RdKafkaError | null) => void): void;
  beginTransaction(cb: (err: RdKafkaError | null) => void): void;
  commitTransaction(timeoutMs: number, cb: (err: RdKafkaError | null) => void): void;
  abortTransaction(timeoutMs: number, cb: (err: RdKafkaError | null) => void): void;
  /** The consumer's group metadata (generation, member id) fences the offsets (KIP-447). */
  sendOffsetsToTransaction(
    offsets: RdTopicPartition[],
    consumer: RdKafkaConsumer,
    timeoutMs: number,
    cb: (err: RdKafkaError | null) => void,
  ): void;
}

export interface RdKafkaModule {
  KafkaConsumer: new (config: Config, topicConfig?: Config) => RdKafkaConsumer;
  Producer: new (config: Config, topicConfig?: Config) => RdProducer;
  librdkafkaVersion: string;
  features: string[];
}

/** librdkafka's error codes the transport acts on (see rdkafka.h). */
export const RD = {
  ASSIGN_PARTITIONS: -175,
  REVOKE_PARTITIONS: -174,
  QUEUE_FULL: -184,
  AUTHENTICATION: -169,
  SSL: -181,
  FATAL: -150,
  MSG_SIZE_TOO_LARGE: 10,
  UNKNOWN_TOPIC_OR_PART: 3,
  TOPIC_AUTHORIZATION_FAILED: 29,
  GROUP_AUTHORIZATION_FAILED: 30,
  CLUSTER_AUTHORIZATION_FAILED: 31,
  SASL_AUTHENTICATION_FAILED: 58,
  INVALID_RECORD: 87,
} as const;

let loaded: RdKafkaModule | Error | undefined;

/** Loads the native module once; an Error says why it cannot be used on this host. */
export function loadLibrdkafka(): RdKafkaModule | Error {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as RdKafkaModule;
    } catch (error) {
      loaded = error instanceof Error ? error : new Error(String(error));
    }
  }
  return loaded;
}
