import { setTimeout as sleep } from 'node:timers/promises';
import type { KafkaConnectionOptions } from '../config/worker-config.js';
import {
  CommitFailedError,
  KafkaFatalError,
  ProduceFailedError,
  ProducerFencedError,
  RetriableError,
  TransactionAbortedError,
  errorMessage,
  type ProduceFailureReason,
} from '../errors.js';
import type { Logger } from '../observability/logger.js';
import {
  RD,
  type RdHeaders,
  type RdKafkaConsumer,
  type RdKafkaError,
  type RdKafkaModule,
  type RdLog,
  type RdMessage,
  type RdProducer,
  type RdTopicPartition,
} from './librdkafka-binding.js';
import { LibrdkafkaCommits } from './librdkafka-commits.js';
import { librdkafkaSecurity } from './security.js';
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
  TransactionalOptions,
  TransactionalProducerTransport,
} from './transport.js';
import { partitionKey } from './transport.js';

/** Records asked for per poll; a poll returns sooner when fewer are queued. */
const RECORDS_PER_POLL = 1_000;
/** How long a poll waits for the first record, so that a stop is noticed quickly. */
const POLL_TIMEOUT_MS = 100;
const CONNECT_TIMEOUT_MS = 30_000;
const DISCONNECT_FLUSH_MS = 10_000;

/** librdkafka's log lines for a login or certificate that no retry can fix. */
const REFUSED_LOGIN = /SASL authentication error|SSL handshake failed|certificate verify failed/;

/** Error codes that no retry with the same configuration can fix. */
const FATAL_CODES = new Set<number>([
  RD.AUTHENTICATION,
  RD.SSL,
  RD.FATAL,
  RD.SASL_AUTHENTICATION_FAILED,
  RD.TOPIC_AUTHORIZATION_FAILED,
  RD.GROUP_AUTHORIZATION_FAILED,
  RD.CLUSTER_AUTHORIZATION_FAILED,
]);

/**
 * librdkafka through @confluentinc/kafka-javascript's own API: every compression codec,
 * cooperative-sticky rebalancing, static membership, and heartbeats on librdkafka's own thread,
 * so a busy event loop does not cost the membership.
 */
export class LibrdkafkaTransport implements KafkaTransport {
  readonly name = 'librdkafka';
  private readonly common: Record<string, string | number | boolean>;

  constructor(
    private readonly rdkafka: RdKafkaModule,
    private readonly options: KafkaConnectionOptions,
    private readonly logger: Logger,
  ) {
    this.common = {
      'bootstrap.servers': options.brokers.join(','),
      'client.id': options.clientId,
      // Without it the binding emits no event.error, and a refused login looks like a timeout.
      event_cb: true,
      ...librdkafkaSecurity(options),
    };
  }

  consumer(): ConsumerTransport {
    const { options } = this;
    const config = {
      ...this.common,
      'group.id': options.groupId,
      ...(options.groupInstanceId ? { 'group.instance.id': options.groupInstanceId } : {}),
      'partition.assignment.strategy': 'cooperative-sticky',
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      'session.timeout.ms': options.sessionTimeoutMs,
      'heartbeat.interval.ms': options.heartbeatIntervalMs,
      'fetch.wait.max.ms': options.fetchMaxWaitMs,
      'max.partition.fetch.bytes': options.maxBytesPerPartition,
      // Prefetched records are bounded in bytes; the pipeline's in-flight caps bound the rest.
      'queued.max.messages.kbytes': 32_768,
      'allow.auto.create.topics': false,
      // Records of open or aborted transactions are never read: the worker's input may come from
      // an exactly-once stage, and the client library reads an exactly-once worker's outputs.
      'isolation.level': 'read_committed',
      ...options.librdkafka,
    };
    const topicConfig = { 'auto.offset.reset': options.fromBeginning ? 'earliest' : 'latest' };
    return new LibrdkafkaConsumer(this.rdkafka, config, topicConfig, this.logger);
  }

  admin(): ClusterAdmin {
    return new KafkajsClusterAdmin(this.options, this.logger);
  }

  producer(): ProducerTransport {
    return new LibrdkafkaProducer(this.rdkafka, this.producerConfig(), this.logger);
  }

  transactionalProducer(options: TransactionalOptions): TransactionalProducerTransport {
    const config = {
      ...this.producerConfig(),
      'transactional.id': options.transactionalId,
      'transaction.timeout.ms': options.transactionTimeoutMs,
    };
    return new LibrdkafkaTransactionalProducer(this.rdkafka, config, this.logger);
  }

  private producerConfig(): Record<string, string | number | boolean> {
    return {
      ...this.common,
      acks: 'all',
      // Ordered, and no duplicates from librdkafka's own retries.
      'enable.idempotence': true,
      // Sends already come as batches (a lane's ready head); waiting for more only adds latency
      // (p50 at half load 15 → 11 ms in the latency bench).
      'linger.ms': 1,
      'compression.codec': this.options.compression,
      // Keyed outputs land by the Java client's murmur2 partitioning, like any other producer's.
      partitioner: 'murmur2_random',
      dr_cb: true,
      ...this.options.librdkafka,
    };
  }
}

class LibrdkafkaConsumer implements ConsumerTransport {
  /** The transactional producer reads the group metadata from it (sendOffsetsToTransaction). */
  readonly client: RdKafkaConsumer;
  private readonly assigned = new Set<string>();
  /** Revocations in progress (commit, then unassign); polling goes on meanwhile. */
  private rebalancing: Promise<void> = Promise.resolve();
  private readonly commits = new LibrdkafkaCommits();
  private handlers: ConsumerHandlers | undefined;
  /** Stopping: records are no longer handed over, but polls still serve commit results. */
  private closing = false;
  /** Disconnecting: the poll loop has ended. */
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private disconnecting: Promise<void> | undefined;
  private lastError: RdKafkaError | undefined;

  constructor(
    rdkafka: RdKafkaModule,
    config: Record<string, string | number | boolean>,
    topicConfig: Record<string, string>,
    private readonly logger: Logger,
  ) {
    this.client = new rdkafka.KafkaConsumer(
      {
        ...config,
        rebalance_cb: (err: RdKafkaError, partitions: RdTopicPartition[]) =>
          this.onRebalance(err, partitions),
        offset_commit_cb: true,
      },
      topicConfig,
    );
    this.client.on('event.error', (error) => this.onClientError(error));
    this.client.on('offset.commit', (error, offsets) => this.commits.onResult(error, offsets));
  }

  async run(subscription: ConsumerSubscription, handlers: ConsumerHandlers): Promise<void> {
    this.handlers = handlers;
    await connect(this.client, () => this.lastError);
    this.client.setDefaultConsumeTimeout(POLL_TIMEOUT_MS);
    this.client.setDefaultIsTimeoutOnlyForFirstMessage(true);
    this.client.subscribe(
      subscription.topics instanceof RegExp
        ? [toLibrdkafkaPattern(subscription.topics)]
        : subscription.topics,
    );
    this.loop = this.pollLoop(handlers);
  }

  private async pollLoop(handlers: ConsumerHandlers): Promise<void> {
    try {
      await this.pollUntilClosed(handlers);
    } catch (error) {
      // A handler that throws is a bug, not a reason to stop consuming silently.
      handlers.onFatal(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private async pollUntilClosed(handlers: ConsumerHandlers): Promise<void> {
    // Polls go on through revocations and a stop's drain: they serve the commit results that
    // both wait for.
    while (!this.stopped) {
      let messages: RdMessage[];
      try {
        messages = await this.poll();
      } catch (error) {
        if (this.stopped) return;
        if (isFatal(error)) {
          handlers.onFatal(fatalError('consumer', error as RdKafkaError));
          return;
        }
        this.logger.warn({ err: errorMessage(error) }, 'poll failed; retrying');
        await sleep(200);
        continue;
      }
      if (this.closing) continue; // left uncommitted for the next owner
      for (const [key, batch] of byPartition(messages)) {
        if (!this.assigned.has(key) || this.closing) continue;
        const first = batch[0]!;
        const records = batch.map(toConsumedRecord);
        const taken = await handlers.onBatch({
          topic: first.topic,
          partition: first.partition,
          records,
          highWatermark: this.highWatermark(first.topic, first.partition),
          isCurrent: () => !this.closing && this.assigned.has(key),
        });
        if (taken < records.length && !this.closing && this.assigned.has(key)) {
          await this.seek({
            topic: first.topic,
            partition: first.partition,
            offset: batch[taken]!.offset,
          });
        }
      }
    }
  }

  private poll(): Promise<RdMessage[]> {
    return new Promise((resolve, reject) =>
      this.client.consume(RECORDS_PER_POLL, (err, messages) =>
        err ? reject(err) : resolve(messages),
      ),
    );
  }

  private seek(tp: RdTopicPartition): Promise<void> {
    return new Promise((resolve) =>
      this.client.seek(tp, 5_000, (err) => {
        if (err) this.logger.warn({ err: errorMessage(err), ...tp }, 'seek failed');
        resolve();
      }),
    );
  }

  /** librdkafka serves rebalances during a poll; revocation waits for the worker's last commit. */
  private onRebalance(err: RdKafkaError, partitions: RdTopicPartition[]): void {
    const cooperative = this.client.rebalanceProtocol() === 'COOPERATIVE';
    const handlers = this.handlers!;
    const tps = partitions.map(({ topic, partition }) => ({ topic, partition }));
    if (err.code === RD.ASSIGN_PARTITIONS) {
      try {
        if (cooperative) this.client.incrementalAssign(partitions);
        else this.client.assign(partitions);
      } catch (error) {
        this.logger.error({ err: errorMessage(error) }, 'assign failed');
        return;
      }
      for (const tp of tps) this.assigned.add(partitionKey(tp));
      handlers.onAssigned(tps);
      return;
    }
    if (err.code !== RD.REVOKE_PARTITIONS) {
      this.logger.error({ err: errorMessage(err) }, 'rebalance failed');
      return;
    }
    for (const tp of tps) this.assigned.delete(partitionKey(tp));
    const release = (): void => {
      try {
        if (cooperative) this.client.incrementalUnassign(partitions);
        else this.client.unassign();
      } catch (error) {
        if (this.client.isConnected()) {
          this.logger.warn({ err: errorMessage(error) }, 'unassign failed');
        }
      }
    };
    if (this.stopped) {
      // Disconnecting: the worker has committed already; librdkafka's close waits on this.
      release();
      void handlers.onRevoked(tps);
      return;
    }
    this.rebalancing = this.rebalancing
      .then(() => handlers.onRevoked(tps))
      .catch((error: unknown) =>
        this.logger.warn({ err: errorMessage(error) }, 'revocation handler failed'),
      )
      .finally(release);
  }

  private onClientError(error: RdKafkaError): void {
    this.lastError = error;
    if (isFatal(error) && this.handlers && !this.closing) {
      this.handlers.onFatal(fatalError('consumer', error));
      return;
    }
    this.logger.warn({ err: errorMessage(error), code: error.code }, 'kafka consumer error');
  }

  private highWatermark(topic: string, partition: number): string | undefined {
    try {
      return String(this.client.getWatermarkOffsets(topic, partition).highOffset);
    } catch {
      return undefined;
    }
  }

  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (!this.client.isConnected()) {
      return Promise.reject(new CommitFailedError('commit failed: the consumer is not connected'));
    }
    return this.commits.commit(toRdOffsets(offsets), (queued) => this.client.commit(queued));
  }

  pauseAll(): void {
    this.closing = true; // nothing more is handed over
    try {
      this.client.pause(this.client.assignments()); // nor fetched
    } catch {
      // not connected: nothing is fetched anyway
    }
  }

  disconnect(): Promise<void> {
    this.disconnecting ??= (async () => {
      this.closing = true;
      this.stopped = true;
      await this.loop;
      this.commits.close('the consumer is closing');
      await this.rebalancing;
      if (!this.client.isConnected()) return;
      await new Promise<void>((resolve) =>
        this.client.disconnect((err) => {
          if (err) this.logger.warn({ err: errorMessage(err) }, 'consumer close failed');
          resolve();
        }),
      );
    })();
    return this.disconnecting;
  }
}

/** Settles once every record of one send() has its delivery report. */
class DeliveryTracker {
  private remaining: number;
  private failure: RdKafkaError | undefined;
  readonly done: Promise<void>;
  private finish!: () => void;

  constructor(count: number) {
    this.remaining = count;
    this.done = new Promise((resolve) => (this.finish = resolve));
    if (count === 0) this.finish();
  }

  settle(error: RdKafkaError | null): void {
    if (error && !this.failure) this.failure = error;
    if (--this.remaining === 0) this.finish();
  }

  get error(): RdKafkaError | undefined {
    return this.failure;
  }
}

class LibrdkafkaProducer implements ProducerTransport {
  protected readonly client: RdProducer;
  private readonly headerObjects = new HeaderObjects();
  private lastError: RdKafkaError | undefined;
  /** librdkafka's fatal error: the producer sends nothing more, and every send says so. */
  private fatal: RdKafkaError | undefined;

  constructor(
    rdkafka: RdKafkaModule,
    config: Record<string, string | number | boolean>,
    private readonly logger: Logger,
  ) {
    this.client = new rdkafka.Producer(config);
    this.client.on('event.error', (error) => {
      this.lastError = error;
      if (error.isFatal === true) {
        this.fatal ??= error;
        this.logger.error({ err: errorMessage(error), code: error.code }, 'kafka producer: fatal');
        return;
      }
      this.logger.warn({ err: errorMessage(error), code: error.code }, 'kafka producer error');
    });
    this.client.on('delivery-report', (err, report) =>
      (report.opaque as DeliveryTracker).settle(err),
    );
  }

  async connect(): Promise<void> {
    await connect(this.client, () => this.lastError);
    // Delivery reports are served on librdkafka's background thread, not by a JS timer.
    this.client.setPollInBackground(true);
  }

  async send(records: OutgoingRecord[]): Promise<void> {
    if (this.fatal) throw produceFailure(this.fatal);
    const tracker = new DeliveryTracker(records.length);
    for (let i = 0; i < records.length;) {
      const { topic, key, value, headers } = records[i]!;
      try {
        this.client.produce(
          topic,
          null,
          typeof value === 'string' ? Buffer.from(value) : value,
          key,
          null,
          tracker,
          this.headerObjects.of(headers),
        );
        i++;
      } catch (error) {
        const code = (error as RdKafkaError).code;
        if (code === RD.QUEUE_FULL) {
          await sleep(5); // the background poller is draining it
          continue;
        }
        // Never handed to librdkafka: count it as failed so the tracker still settles.
        tracker.settle(error as RdKafkaError);
        i++;
      }
    }
    await tracker.done;
    if (tracker.error) throw produceFailure(tracker.error);
  }

  disconnect(): Promise<void> {
    if (!this.client.isConnected()) return Promise.resolve();
    return new Promise((resolve) =>
      this.client.flush(DISCONNECT_FLUSH_MS, () => this.client.disconnect(() => resolve())),
    );
  }
}

/** How long one transactional call may take before it fails as retriable. */
const TRANSACTION_CALL_TIMEOUT_MS = 10_000;

/**
 * One transactional.id per process; librdkafka's transaction API, with its failures mapped to the
 * error policy: fenced (fatal), abort needed (TransactionAbortedError), or try again.
 */
class LibrdkafkaTransactionalProducer
  extends LibrdkafkaProducer
  implements TransactionalProducerTransport
{
  override async connect(): Promise<void> {
    await super.connect();
    // Fences any earlier producer with this id and aborts the transaction it left open.
    await this.call('initTransactions', (cb) =>
      this.client.initTransactions(TRANSACTION_CALL_TIMEOUT_MS * 3, cb),
    );
  }

  beginTransaction(): Promise<void> {
    return this.call('beginTransaction', (cb) => this.client.beginTransaction(cb));
  }

  sendOffsets(offsets: TopicPartitionOffset[], consumer: ConsumerTransport): Promise<void> {
    if (!(consumer instanceof LibrdkafkaConsumer)) {
      return Promise.reject(new KafkaFatalError('exactly-once needs the librdkafka consumer'));
    }
    const rd = toRdOffsets(offsets);
    return this.call('sendOffsetsToTransaction', (cb) =>
      this.client.sendOffsetsToTransaction(rd, consumer.client, TRANSACTION_CALL_TIMEOUT_MS, cb),
    );
  }

  commitTransaction(): Promise<void> {
    return this.call('commitTransaction', (cb) =>
      this.client.commitTransaction(TRANSACTION_CALL_TIMEOUT_MS, cb),
    );
  }

  abortTransaction(): Promise<void> {
    return this.call('abortTransaction', (cb) =>
      this.client.abortTransaction(TRANSACTION_CALL_TIMEOUT_MS, cb),
    );
  }

  private call(
    what: string,
    start: (cb: (err: RdKafkaError | null) => void) => void,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err: RdKafkaError | null): void =>
        err ? reject(transactionFailure(what, err)) : resolve();
      try {
        start(done);
      } catch (error) {
        done(error as RdKafkaError);
      }
    });
  }
}

/** A transactional call's failure, by librdkafka's own flags (rdkafka.h, "Transactional API"). */
function transactionFailure(what: string, error: RdKafkaError): Error {
  const message = `${what} failed: ${errorMessage(error)}`;
  if (error.isFatal) return new ProducerFencedError(message, { cause: error });
  if (error.isTxnRequiresAbort) return new TransactionAbortedError(message, { cause: error });
  if (error.isRetriable) return new RetriableError(message, { cause: error });
  // Neither retriable nor abortable (a state error, a refused group): abort and redo.
  return new TransactionAbortedError(message, { cause: error });
}

export function produceFailure(error: RdKafkaError): ProduceFailedError {
  const reasons: Partial<Record<number, ProduceFailureReason>> = {
    [RD.MSG_SIZE_TOO_LARGE]: 'too-large',
    [RD.TOPIC_AUTHORIZATION_FAILED]: 'authorization',
    [RD.CLUSTER_AUTHORIZATION_FAILED]: 'authorization',
    [RD.UNKNOWN_TOPIC_OR_PART]: 'unknown-topic',
    [RD.INVALID_RECORD]: 'invalid-record',
  };
  // A fatal error is the producer's end whatever its code (bar a refused authorization, which
  // says more): resending can never succeed.
  const known = reasons[error.code];
  const reason =
    known === 'authorization' ? known : error.isFatal ? 'fatal' : (known ?? 'transient');
  return new ProduceFailedError(reason, `produce failed: ${errorMessage(error)}`, {
    cause: error,
  });
}

/**
 * Connects a client. An authentication or TLS failure is fatal and says so at once, instead of
 * surfacing as a connect timeout.
 */
function connect(
  client: {
    connect: RdKafkaConsumer['connect'];
    on(event: 'event.error', listener: (error: RdKafkaError) => void): unknown;
    on(event: 'event.log', listener: (log: RdLog) => void): unknown;
  },
  lastError: () => RdKafkaError | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const refuse = (error: KafkaFatalError): void => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    client.on('event.error', (error) => {
      if (isFatal(error)) refuse(fatalError('connection', error));
    });
    // librdkafka reports a refused login or certificate only as a log line (then retries forever).
    client.on('event.log', (log) => {
      if (log.severity <= 3 && REFUSED_LOGIN.test(log.message)) {
        refuse(
          new KafkaFatalError(
            `Kafka connection refused: ${log.message.replace(/^\[thrd:[^\]]*\]: /, '')}`,
          ),
        );
      }
    });
    client.connect({ timeout: CONNECT_TIMEOUT_MS }, (err) => {
      if (settled) return;
      settled = true;
      if (!err) return resolve();
      const cause = lastError() ?? err;
      reject(
        isFatal(cause)
          ? fatalError('connection', cause)
          : new Error(`cannot connect to Kafka: ${errorMessage(cause)}`, { cause }),
      );
    });
  });
}

function isFatal(error: unknown): boolean {
  const rd = error as Partial<RdKafkaError>;
  return rd.isFatal === true || (typeof rd.code === 'number' && FATAL_CODES.has(rd.code));
}

function fatalError(what: string, error: RdKafkaError): KafkaFatalError {
  return new KafkaFatalError(`Kafka ${what} refused: ${errorMessage(error)}`, { cause: error });
}

/** Offsets to commit, as librdkafka takes them (numbers). */
function toRdOffsets(offsets: TopicPartitionOffset[]): RdTopicPartition[] {
  return offsets.map(({ topic, partition, offset }) => ({
    topic,
    partition,
    offset: Number(offset),
  }));
}

/** librdkafka treats a topic name that starts with "^" as a regular expression. */
function toLibrdkafkaPattern(pattern: RegExp): string {
  return pattern.source.startsWith('^') ? pattern.source : `^${pattern.source}`;
}

/** Groups a poll's messages by partition, keeping each partition's order. */
function byPartition(messages: RdMessage[]): Map<string, RdMessage[]> {
  const groups = new Map<string, RdMessage[]>();
  for (const message of messages) {
    const key = partitionKey(message);
    const group = groups.get(key);
    if (group) group.push(message);
    else groups.set(key, [message]);
  }
  return groups;
}

function toConsumedRecord(message: RdMessage): ConsumedRecord {
  return {
    offset: String(message.offset),
    key: typeof message.key === 'string' ? Buffer.from(message.key) : (message.key ?? null),
    value: message.value,
    headers: fromRdHeaders(message.headers),
    timestamp: message.timestamp ?? 0,
  };
}

function fromRdHeaders(headers: RdHeaders | undefined): RecordHeaders {
  const result: RecordHeaders = {};
  for (const header of headers ?? []) {
    for (const [name, value] of Object.entries(header)) {
      result[name] = Buffer.isBuffer(value) ? value : Buffer.from(value);
    }
  }
  return result;
}

/** Header names whose last single-header object is kept for reuse, at most. */
const REUSED_HEADER_NAMES = 64;

/**
 * librdkafka's binding takes headers as one single-key object each. Most repeat from record to
 * record (source topic and partition, model name and version), so the last object per name is
 * reused instead of allocated again.
 */
class HeaderObjects {
  private readonly last = new Map<string, { value: string; header: Record<string, string> }>();

  of(headers: Record<string, Buffer | string>): RdHeaders {
    const result: RdHeaders = [];
    for (const name in headers) {
      const value = headers[name]!;
      const last = this.last.get(name);
      if (last && last.value === value) {
        result.push(last.header);
        continue;
      }
      const header = { [name]: value };
      if (typeof value === 'string' && (last || this.last.size < REUSED_HEADER_NAMES)) {
        this.last.set(name, { value, header: header as Record<string, string> });
      }
      result.push(header);
    }
    return result;
  }
}
