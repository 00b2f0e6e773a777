import { Partitioners } from 'kafkajs';
import {
  CommitFailedError,
  KafkaFatalError,
  ProduceFailedError,
  ProducerFencedError,
  TransactionAbortedError,
} from '../errors.js';
import type { ProduceFailureReason } from '../errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './topic-admin.js';
import {
  partitionKey,
  type ClusterAdmin,
  type ConsumerHandlers,
  type ConsumerSubscription,
  type ConsumerTransport,
  type FetchedBatch,
  type KafkaTransport,
  type OutgoingRecord,
  type PartitionLag,
  type ProducerTransport,
  type RecordHeaders,
  type TopicPartition,
  type TopicPartitionOffset,
  type TransactionalOptions,
  type TransactionalProducerTransport,
} from './transport.js';

/** One record as the in-memory cluster keeps it. */
export interface StoredRecord {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeaders;
  timestamp: number;
}

/** A record a test writes (the test's own producer). */
export interface TestRecord {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string | Buffer>;
  /** Default: by murmur2(key) like the Java client, round-robin without a key. */
  partition?: number;
}

/** Faults the next calls meet; each counter is spent one call at a time. */
export interface InjectedFaults {
  /** The next N sends reject with `sendFailure`, writing nothing. */
  failSends: number;
  sendFailure: ProduceFailureReason;
  /** The next N commits reject with CommitFailedError, committing nothing. */
  failCommits: number;
  /** The next N transaction commits fail as needing an abort (exactly-once). */
  failTransactionCommits: number;
}

interface Topic {
  partitions: StoredRecord[][];
  maxMessageBytes: number;
}

/** How many records one fetched batch holds at most (librdkafka hands over far fewer). */
const BATCH_RECORDS = 100;

/**
 * Kafka in memory: topics of partitions of records, consumer groups with committed offsets, and
 * transports on them that implement the transport interface, so that the pipeline's delivery
 * promises are tested in milliseconds without a broker. It is not a broker (one process, no
 * replication or retention; a transaction's records are appended only when it commits, which is
 * what a read_committed reader sees, not how a broker stores them); the promises are proven
 * against the real one too.
 * Faults are injected where a real cluster fails: a produce or a commit refused, a rebalance
 * that moves partitions, a member that dies (kill -9) without a word.
 */
export class InMemoryKafka {
  readonly faults: InjectedFaults = {
    failSends: 0,
    sendFailure: 'transient',
    failCommits: 0,
    failTransactionCommits: 0,
  };
  /** The live producer of each transactional.id; a newer one fences the older. */
  private readonly transactionalIds = new Map<string, InMemoryTransactionalProducer>();
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly arrivals = new Set<() => void>();
  private readonly partitioner = Partitioners.DefaultPartitioner();

  createTopic(name: string, partitions = 1, options: { maxMessageBytes?: number } = {}): void {
    if (this.topics.has(name)) throw new Error(`topic ${name} exists`);
    this.topics.set(name, {
      partitions: Array.from({ length: partitions }, () => []),
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    });
  }

  /** Writes records as an outside producer would. */
  produce(topic: string, records: TestRecord[]): void {
    for (const record of records) {
      this.append(topic, {
        key: record.key ?? null,
        value: record.value,
        headers: record.headers ?? {},
        partition: record.partition,
      });
    }
  }

  /** Every record of a topic, partition by partition, in offset order. */
  records(topic: string): StoredRecord[] {
    return this.topic(topic).partitions.flat();
  }

  /** Each partition's end offset (the next offset to be written). */
  endOffsets(topic: string): number[] {
    return this.topic(topic).partitions.map((records) => records.length);
  }

  /** The group's committed offsets, by partitionKey(). */
  committed(groupId: string): ReadonlyMap<string, number> {
    return this.group(groupId).committed;
  }

  /** Clients of one process; `crash()` kills them all at once, as kill -9 would. */
  transport(options: { groupId: string; fromBeginning?: boolean }): InMemoryTransport {
    return new InMemoryTransport(this, this.group(options.groupId), options.fromBeginning ?? true);
  }

  /** @internal initTransactions: `producer` now owns its id; an older one is fenced. */
  registerTransactional(id: string, producer: InMemoryTransactionalProducer): void {
    this.transactionalIds.get(id)?.fence();
    this.transactionalIds.set(id, producer);
  }

  /** A rebalance that revokes every partition of the group's members and assigns them again. */
  rebalance(groupId: string): Promise<void> {
    return this.group(groupId).rebalance(true);
  }

  /** @internal */
  topic(name: string): Topic {
    const topic = this.topics.get(name);
    if (!topic) throw new KafkaFatalError(`unknown topic ${name}`);
    return topic;
  }

  /** @internal */
  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  /** @internal Partitions of the topics a subscription names, in a stable order. */
  subscribed(topics: string[] | RegExp): TopicPartition[] {
    const names = [...this.topics.keys()]
      .filter((name) => (Array.isArray(topics) ? topics.includes(name) : topics.test(name)))
      .sort();
    return names.flatMap((topic) =>
      this.topic(topic).partitions.map((_, partition) => ({ topic, partition })),
    );
  }

  /** @internal */
  append(
    topicName: string,
    record: {
      key: string | Buffer | null;
      value: string | Buffer | null;
      headers: Record<string, string | Buffer>;
      partition?: number;
    },
  ): StoredRecord {
    const topic = this.topic(topicName);
    const key = toBuffer(record.key);
    const partition =
      record.partition ??
      this.partitioner({
        topic: topicName,
        partitionMetadata: topic.partitions.map((_, partitionId) => ({
          partitionId,
          leader: 0,
          partitionErrorCode: 0,
          replicas: [0],
          isr: [0],
          offlineReplicas: [],
        })),
        message: { key, value: null },
      });
    const log = topic.partitions[partition];
    if (!log) throw new Error(`${topicName} has no partition ${partition}`);
    const headers: RecordHeaders = {};
    for (const [name, value] of Object.entries(record.headers)) headers[name] = toBuffer(value)!;
    const stored: StoredRecord = {
      topic: topicName,
      partition,
      offset: log.length,
      key,
      value: toBuffer(record.value),
      headers,
      timestamp: Date.now(),
    };
    log.push(stored);
    for (const wake of this.arrivals) wake();
    return stored;
  }

  /** @internal Resolves when a record is written, or after `ms`. */
  async arrival(ms: number): Promise<void> {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    this.arrivals.add(wake);
    const timer = setTimeout(wake, ms);
    await woken;
    clearTimeout(timer);
    this.arrivals.delete(wake);
  }

  private group(groupId: string): ConsumerGroup {
    let group = this.groups.get(groupId);
    if (!group) {
      group = new ConsumerGroup(this);
      this.groups.set(groupId, group);
    }
    return group;
  }
}

/** A consumer group: its members, who owns which partition, and its committed offsets. */
class ConsumerGroup {
  readonly committed = new Map<string, number>();
  private readonly members: InMemoryConsumer[] = [];
  private readonly owners = new Map<string, InMemoryConsumer>();
  private rebalancing: Promise<void> = Promise.resolve();

  constructor(private readonly kafka: InMemoryKafka) {}

  join(member: InMemoryConsumer): Promise<void> {
    this.members.push(member);
    return this.rebalance(false);
  }

  /** A member that leaves (or dies): its partitions go to the others, from the committed offsets. */
  leave(member: InMemoryConsumer): Promise<void> {
    const index = this.members.indexOf(member);
    if (index < 0) return this.rebalancing;
    this.members.splice(index, 1);
    for (const [key, owner] of this.owners) if (owner === member) this.owners.delete(key);
    return this.rebalance(false);
  }

  owns(member: InMemoryConsumer, tp: TopicPartition): boolean {
    return this.owners.get(partitionKey(tp)) === member;
  }

  commit(offsets: TopicPartitionOffset[]): void {
    for (const tp of offsets) this.committed.set(partitionKey(tp), Number(tp.offset));
  }

  /** The partitions of `partitions` that `member` does not own, named; undefined when none. */
  notOwnedBy(
    member: InMemoryConsumer | undefined,
    partitions: TopicPartition[],
  ): string | undefined {
    const foreign = partitions.filter((tp) => !member || !this.owns(member, tp));
    return foreign.length > 0
      ? foreign.map((tp) => `${tp.topic}/${tp.partition}`).join(', ')
      : undefined;
  }

  /**
   * Round-robin over the members, revoking before assigning (a partition never has two owners).
   * `everything`: revoke every partition first, as an eager rebalance does.
   */
  rebalance(everything: boolean): Promise<void> {
    this.rebalancing = this.rebalancing.then(async () => {
      const members = [...this.members];
      const target = new Map<string, InMemoryConsumer>();
      // Members of one group subscribe alike; the first one's subscription stands for all.
      const partitions = members.length ? this.kafka.subscribed(members[0]!.topics()) : [];
      partitions.forEach((tp, i) => target.set(partitionKey(tp), members[i % members.length]!));
      for (const member of members) {
        const lost = member
          .assignment()
          .filter((tp) => everything || target.get(partitionKey(tp)) !== member);
        if (lost.length === 0) continue;
        await member.revoke(lost);
        for (const tp of lost) this.owners.delete(partitionKey(tp));
      }
      for (const member of members) {
        const gained = partitions.filter(
          (tp) =>
            target.get(partitionKey(tp)) === member && this.owners.get(partitionKey(tp)) !== member,
        );
        for (const tp of gained) this.owners.set(partitionKey(tp), member);
        if (gained.length > 0) member.assign(gained, this.committed);
      }
    });
    return this.rebalancing;
  }
}

/** The clients of one process on the in-memory cluster. */
export class InMemoryTransport implements KafkaTransport {
  readonly name = 'in-memory';
  private readonly consumers: InMemoryConsumer[] = [];
  private readonly producers: InMemoryProducer[] = [];

  constructor(
    private readonly kafka: InMemoryKafka,
    private readonly group: ConsumerGroup,
    private readonly fromBeginning: boolean,
  ) {}

  consumer(): ConsumerTransport {
    const consumer = new InMemoryConsumer(this.kafka, this.group);
    this.consumers.push(consumer);
    return consumer;
  }

  producer(): ProducerTransport {
    const producer = new InMemoryProducer(this.kafka);
    this.producers.push(producer);
    return producer;
  }

  transactionalProducer(options: TransactionalOptions): TransactionalProducerTransport {
    const producer = new InMemoryTransactionalProducer(this.kafka, this.group, options);
    this.producers.push(producer);
    return producer;
  }

  admin(): ClusterAdmin {
    const { kafka, group, fromBeginning } = this;
    return {
      outputTopicLimit: (topics) => {
        const missing = topics.filter((topic) => !kafka.hasTopic(topic));
        if (missing.length > 0) {
          return Promise.reject(
            new KafkaFatalError(`output topic(s) ${missing.join(', ')} do not exist`),
          );
        }
        return Promise.resolve(Math.min(...topics.map((t) => kafka.topic(t).maxMessageBytes)));
      },
      groupLag: (partitions) =>
        Promise.resolve(
          partitions.map((tp): PartitionLag => {
            const end = kafka.endOffsets(tp.topic)[tp.partition] ?? 0;
            const at = group.committed.get(partitionKey(tp)) ?? (fromBeginning ? 0 : end);
            return { ...tp, lag: Math.max(0, end - at) };
          }),
        ),
      close: () => Promise.resolve(),
    };
  }

  /**
   * SIGSTOP past the session timeout: the group gives this process's partitions to the others
   * without asking it, and its clients go on as before (a zombie) until `rejoin()`.
   */
  async expel(): Promise<void> {
    for (const consumer of this.consumers) await consumer.expel();
  }

  /** SIGCONT: the zombie learns that it lost its partitions, lets them go and joins again. */
  async rejoin(): Promise<void> {
    for (const consumer of this.consumers) await consumer.rejoin();
  }

  /**
   * kill -9: from now on nothing this process's clients do has an effect. Calls in flight and
   * later ones never settle; the group moves its partitions to the other members without asking
   * it, from the committed offsets. What was written before stays written.
   */
  async crash(): Promise<void> {
    for (const producer of this.producers) producer.crash();
    for (const consumer of this.consumers) await consumer.crash();
  }
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

export class InMemoryConsumer implements ConsumerTransport {
  private handlers: ConsumerHandlers | undefined;
  private subscription: ConsumerSubscription | undefined;
  /** Next offset to fetch per owned partition, and an epoch that a reassignment bumps. */
  private readonly positions = new Map<
    string,
    { tp: TopicPartition; next: number; epoch: number }
  >();
  private epoch = 0;
  private paused = false;
  private closed = false;
  private dead = false;

  constructor(
    private readonly kafka: InMemoryKafka,
    private readonly group: ConsumerGroup,
  ) {}

  async run(subscription: ConsumerSubscription, handlers: ConsumerHandlers): Promise<void> {
    this.subscription = subscription;
    this.handlers = handlers;
    await this.group.join(this);
    void this.fetchLoop().catch((error: unknown) =>
      handlers.onFatal(error instanceof Error ? error : new Error(String(error))),
    );
  }

  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (this.dead) return never();
    if (this.kafka.faults.failCommits > 0) {
      this.kafka.faults.failCommits--;
      return Promise.reject(new CommitFailedError('commit refused (injected fault)'));
    }
    const foreign = this.group.notOwnedBy(this, offsets);
    if (foreign) {
      return Promise.reject(new CommitFailedError(`not the owner of ${foreign} (rebalanced)`));
    }
    this.group.commit(offsets);
    return Promise.resolve();
  }

  pauseAll(): void {
    this.paused = true;
  }

  async disconnect(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.group.leave(this);
  }

  /** @internal */
  async crash(): Promise<void> {
    this.dead = true;
    this.closed = true;
    await this.group.leave(this);
  }

  /** @internal */
  async expel(): Promise<void> {
    await this.group.leave(this);
  }

  /** @internal */
  async rejoin(): Promise<void> {
    await this.revoke(this.assignment());
    await this.group.join(this);
  }

  /** @internal */
  topics(): string[] | RegExp {
    return this.subscription?.topics ?? [];
  }

  /** @internal */
  assignment(): TopicPartition[] {
    return [...this.positions.values()].map((position) => position.tp);
  }

  /** @internal Awaits the handler, as librdkafka's rebalance callback lets the worker commit. */
  async revoke(partitions: TopicPartition[]): Promise<void> {
    if (!this.dead) await this.handlers?.onRevoked(partitions);
    for (const tp of partitions) this.positions.delete(partitionKey(tp));
  }

  /** @internal */
  assign(partitions: TopicPartition[], committed: ReadonlyMap<string, number>): void {
    this.epoch++;
    for (const tp of partitions) {
      const end = this.kafka.endOffsets(tp.topic)[tp.partition] ?? 0;
      const from = this.subscription?.fromBeginning ? 0 : end;
      const next = committed.get(partitionKey(tp)) ?? from;
      this.positions.set(partitionKey(tp), { tp, next, epoch: this.epoch });
    }
    if (!this.dead) this.handlers?.onAssigned(partitions);
  }

  /** One partition's batch at a time, taking turns, as long as the consumer runs. */
  private async fetchLoop(): Promise<void> {
    let turn = 0;
    while (!this.closed) {
      const ready = this.paused
        ? []
        : [...this.positions.values()].filter(
            (p) => p.next < (this.kafka.endOffsets(p.tp.topic)[p.tp.partition] ?? 0),
          );
      if (ready.length === 0) {
        await this.kafka.arrival(10);
        continue;
      }
      const position = ready[turn++ % ready.length]!;
      const log = this.kafka.topic(position.tp.topic).partitions[position.tp.partition]!;
      const records = log.slice(position.next, position.next + BATCH_RECORDS);
      const key = partitionKey(position.tp);
      const current = () => !this.closed && this.positions.get(key) === position;
      const batch: FetchedBatch = {
        ...position.tp,
        records: records.map((r) => ({
          offset: String(r.offset),
          key: r.key,
          value: r.value,
          headers: r.headers,
          timestamp: r.timestamp,
        })),
        highWatermark: String(log.length),
        isCurrent: current,
      };
      const taken = await this.handlers!.onBatch(batch);
      if (current()) position.next += taken;
      // Give timers and I/O a turn, as a real client's poll would.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

class InMemoryProducer implements ProducerTransport {
  protected dead = false;

  constructor(protected readonly kafka: InMemoryKafka) {}

  connect(): Promise<void> {
    return Promise.resolve();
  }

  async send(records: OutgoingRecord[]): Promise<void> {
    await this.accept(records);
    for (const record of records) this.kafka.append(record.topic, record);
  }

  /** Waits a turn, as a broker's acknowledgement would, then refuses what a broker would. */
  protected async accept(records: OutgoingRecord[]): Promise<void> {
    if (this.dead) return never();
    await new Promise((resolve) => setImmediate(resolve));
    if (this.dead) return never();
    const { faults } = this.kafka;
    if (faults.failSends > 0) {
      faults.failSends--;
      throw new ProduceFailedError(
        faults.sendFailure,
        `produce refused (injected ${faults.sendFailure})`,
      );
    }
    for (const record of records) {
      if (!this.kafka.hasTopic(record.topic)) {
        throw new ProduceFailedError('unknown-topic', `unknown topic ${record.topic}`);
      }
      const bytes =
        byteLength(record.key) +
        byteLength(record.value) +
        Object.entries(record.headers).reduce((n, [k, v]) => n + k.length + byteLength(v), 0);
      if (bytes > this.kafka.topic(record.topic).maxMessageBytes) {
        throw new ProduceFailedError('too-large', `record of ${bytes} bytes is too large`);
      }
    }
  }

  disconnect(): Promise<void> {
    return Promise.resolve();
  }

  /** @internal */
  crash(): void {
    this.dead = true;
  }
}

/**
 * A transactional producer: sends between begin and commit are held back and appended when the
 * transaction commits, together with the group's offsets, as a read_committed reader would see
 * them. Offsets are fenced by ownership (the group generation), producers by transactional id.
 */
class InMemoryTransactionalProducer
  extends InMemoryProducer
  implements TransactionalProducerTransport
{
  private open = false;
  private held: OutgoingRecord[] = [];
  private offsets: TopicPartitionOffset[] = [];
  private consumer: InMemoryConsumer | undefined;
  private fenced = false;
  /** A send of this transaction failed: only an abort clears it, as with librdkafka. */
  private mustAbort = false;

  constructor(
    kafka: InMemoryKafka,
    private readonly group: ConsumerGroup,
    private readonly options: TransactionalOptions,
  ) {
    super(kafka);
  }

  override connect(): Promise<void> {
    this.kafka.registerTransactional(this.options.transactionalId, this);
    return Promise.resolve();
  }

  override async send(records: OutgoingRecord[]): Promise<void> {
    this.check();
    if (!this.open) throw new ProduceFailedError('other', 'send outside a transaction');
    try {
      await this.accept(records);
    } catch (error) {
      this.mustAbort = true;
      throw error;
    }
    this.check();
    this.held.push(...records);
  }

  async beginTransaction(): Promise<void> {
    if (this.dead) return never();
    this.check();
    this.open = true;
  }

  async sendOffsets(offsets: TopicPartitionOffset[], consumer: ConsumerTransport): Promise<void> {
    if (this.dead) return never();
    this.check();
    if (!(consumer instanceof InMemoryConsumer)) throw new Error('not an in-memory consumer');
    this.consumer = consumer;
    this.offsets.push(...offsets);
  }

  async commitTransaction(): Promise<void> {
    if (this.dead) return never();
    await new Promise((resolve) => setImmediate(resolve));
    if (this.dead) return never();
    this.check();
    if (this.mustAbort) throw new TransactionAbortedError('a send of this transaction failed');
    const { faults } = this.kafka;
    if (faults.failTransactionCommits > 0) {
      faults.failTransactionCommits--;
      throw new TransactionAbortedError('transaction commit refused (injected fault)');
    }
    const foreign = this.group.notOwnedBy(this.consumer, this.offsets);
    if (foreign) {
      throw new TransactionAbortedError(
        `offsets of partitions this member no longer owns (${foreign}): generation fenced`,
      );
    }
    for (const record of this.held) this.kafka.append(record.topic, record);
    this.group.commit(this.offsets);
    this.reset();
  }

  async abortTransaction(): Promise<void> {
    if (this.dead) return never();
    this.check();
    this.reset();
  }

  /** @internal A newer producer with this transactional id started. */
  fence(): void {
    this.fenced = true;
    this.reset();
  }

  override crash(): void {
    super.crash();
    this.reset(); // the broker aborts what a dead producer left open
  }

  private reset(): void {
    this.open = false;
    this.mustAbort = false;
    this.held = [];
    this.offsets = [];
  }

  private check(): void {
    if (this.fenced) {
      throw new ProducerFencedError(
        `producer fenced: a newer producer with transactional.id ${this.options.transactionalId} started`,
      );
    }
  }
}

function toBuffer(value: string | Buffer | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? Buffer.from(value) : value;
}

function byteLength(value: string | Buffer | null): number {
  if (value === null) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}
