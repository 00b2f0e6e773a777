/**
 * What the pipeline needs from Kafka, and nothing about any client library. Two implementations:
 * librdkafka (@confluentinc/kafka-javascript) and kafkajs; only files in src/kafka/ know either.
 */

/** Record headers; a header the broker sent twice keeps its last value. */
export type RecordHeaders = Record<string, Buffer>;

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** An offset to commit: the next offset to read (last done + 1), as decimal text. */
export interface TopicPartitionOffset extends TopicPartition {
  offset: string;
}

/** One record as fetched, with its coordinates. */
export interface ConsumedRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeaders;
  /** Record timestamp (create or log-append time), ms since epoch. */
  timestamp: number;
}

/** Records of one partition, in offset order, from one fetch. */
export interface FetchedBatch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
  /** The partition's high watermark as last seen by the consumer, when known. */
  highWatermark: string | undefined;
  /** False once the partition was revoked or the consumer is stopping: accept nothing more. */
  isCurrent(): boolean;
}

export interface ConsumerHandlers {
  /**
   * One partition's fetched records. The transport fetches nothing more for this consumer until
   * the promise settles, so waiting here is backpressure (the membership stays alive meanwhile).
   * Resolves with how many records, from the first, were taken; the rest are fetched again.
   */
  onBatch(batch: FetchedBatch): Promise<number>;
  /** Partitions newly assigned to this member. */
  onAssigned(partitions: TopicPartition[]): void;
  /**
   * Partitions this member is giving up (or has lost). Awaited before they go, where the client
   * allows it, so the worker can commit what is acknowledged; then their state must be dropped.
   */
  onRevoked(partitions: TopicPartition[]): Promise<void>;
  /** The consumer failed and will not recover by itself: the worker must stop. */
  onFatal(error: Error): void;
}

export interface ConsumerSubscription {
  topics: string[] | RegExp;
  /** Where to start when the group has no committed offset. */
  fromBeginning: boolean;
}

export interface ConsumerTransport {
  /** Joins the group, subscribes and starts delivering batches to the handlers. */
  run(subscription: ConsumerSubscription, handlers: ConsumerHandlers): Promise<void>;
  /** Commits explicit offsets; rejects with CommitFailedError unless the broker took them. */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /** Stops fetching (e.g. at shutdown); records already fetched may still arrive. */
  pauseAll(): void;
  /** Leaves the group and closes connections. Safe to call twice. */
  disconnect(): Promise<void>;
}

/** A record to produce. Keyed records land by murmur2(key), like the Java client's. */
export interface OutgoingRecord {
  topic: string;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers: Record<string, Buffer | string>;
}

export interface ProducerTransport {
  connect(): Promise<void>;
  /**
   * Produces the records (acks=all) and resolves once every one of them is acknowledged; rejects
   * with a ProduceFailedError that says whether trying again can help. Records to one partition
   * are written in the order given.
   */
  send(records: OutgoingRecord[]): Promise<void>;
  disconnect(): Promise<void>;
}

/**
 * A producer whose sends between begin and commit become visible together, with the input
 * offsets they answer, or not at all (Kafka transactions with KIP-447's group-generation fencing).
 * Failures: TransactionAbortedError when the transaction must be aborted (then abortTransaction),
 * ProducerFencedError when this producer can do nothing more, RetriableError to call again.
 */
export interface TransactionalOptions {
  /** Unique per live producer: a second one with the same id fences the first. */
  transactionalId: string;
  /** The broker aborts a transaction left open longer than this. */
  transactionTimeoutMs: number;
}

export interface TransactionalProducerTransport extends ProducerTransport {
  /** Starts a transaction; every send until commit or abort belongs to it. */
  beginTransaction(): Promise<void>;
  /**
   * Adds the input offsets to the open transaction as the consumer's group commit, fenced by the
   * consumer's group generation: a member that lost the partitions cannot commit them.
   */
  sendOffsets(offsets: TopicPartitionOffset[], consumer: ConsumerTransport): Promise<void>;
  commitTransaction(): Promise<void>;
  abortTransaction(): Promise<void>;
}

export interface PartitionLag extends TopicPartition {
  lag: number;
}

/** The cluster requests the worker makes besides consuming and producing, none on the hot path. */
export interface ClusterAdmin {
  /**
   * Checks that the topics the worker writes exist (a KafkaFatalError names the missing ones) and
   * returns the smallest max.message.bytes among them, which bounds each send. When the limits
   * cannot be read (no DescribeConfigs right), Kafka's default, with a warning.
   */
  outputTopicLimit(topics: string[]): Promise<number>;
  /**
   * The group's lag on these partitions: end offsets minus its committed offsets (with none
   * committed: all that is retained when the group starts from the beginning, else 0).
   */
  groupLag(partitions: TopicPartition[]): Promise<PartitionLag[]>;
  close(): Promise<void>;
}

export type TransportName = 'librdkafka' | 'kafkajs' | 'in-memory';

/** Creates the clients of one Kafka client library, configured from the worker's kafka options. */
export interface KafkaTransport {
  readonly name: TransportName;
  consumer(): ConsumerTransport;
  producer(): ProducerTransport;
  /**
   * A transactional producer with this transactional.id (exactly-once); absent where the library
   * cannot fence by group generation (kafkajs).
   */
  transactionalProducer?(options: TransactionalOptions): TransactionalProducerTransport;
  admin(): ClusterAdmin;
}

/** A map key for a topic-partition (topic names cannot hold a NUL). */
export function partitionKey(tp: TopicPartition): string {
  return `${tp.topic}\u0000${tp.partition}`;
}

export function parsePartitionKey(key: string): TopicPartition {
  const [topic, partition] = key.split('\u0000');
  return { topic: topic!, partition: Number(partition) };
}
