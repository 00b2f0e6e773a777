import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import {
  ProducerFencedError,
  RetriableError,
  TransactionAbortedError,
  errorMessage,
} from '../errors.js';
import { classifyFailure } from '../error-policy.js';
import type {
  ConsumerTransport,
  OutgoingRecord,
  TransactionalProducerTransport,
} from '../kafka/transport.js';
import type { WorkerConfig } from '../config/worker-config.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { LaneDispatch, PartitionLane } from './partition-lane.js';

export interface TransactionCycleOptions {
  /** A transaction commits this long after it opened (delivery.transactionIntervalMs). */
  intervalMs: number;
  /** …or as soon as this many events wait in it. */
  maxEvents: number;
  backoff: BackoffOptions;
  /** False once shutdown has given up on in-flight work. */
  keepRetrying: () => boolean;
}

/** A commit tells each lane itself (its listener hears of the committed events). */
export interface TransactionHandlers {
  /** Replies to send now that the outputs they copy are committed. */
  onReplies(lane: PartitionLane, replies: OutgoingRecord[]): void;
  /** Fenced, or a call that can never succeed: the worker stops. */
  onFatal(error: unknown): void;
}

type State = 'idle' | 'opening' | 'open' | 'ending';

/**
 * Exactly-once delivery (delivery.guarantee exactly-once): one transaction at a time on the
 * process's transactional producer. Sends join the open transaction (one opens at the first
 * send); every intervalMs, or when maxEvents wait, the gate closes, the sends under way finish,
 * and the lanes' written offsets are added to the transaction with the consumer's group metadata
 * and committed with the outputs: both become visible together, or neither. A failed send or
 * commit aborts the transaction, and its lanes send what it held again, in order. A fenced
 * producer (a zombie) commits nothing more and the worker stops.
 */
export class TransactionCycle {
  private state: State = 'idle';
  /** Sends inside the open transaction that have not returned yet. */
  private active = 0;
  /** Events written in the open transaction. */
  private events = 0;
  private readonly lanes = new Set<PartitionLane>();
  private readonly replies = new Map<PartitionLane, OutgoingRecord[]>();
  /** Why the open transaction must abort, when a send failed. */
  private doomed: unknown;
  private openedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private ending: Promise<void> = Promise.resolve();
  /** Wakes the sends waiting at the gate (a transaction opened, or one ended). */
  private changed = deferred();
  /** Wakes the commit waiting for the sends under way. */
  private drained = deferred();
  private fatal: unknown;
  private closed = false;

  constructor(
    private readonly producer: TransactionalProducerTransport,
    /** The unwrapped consumer: its group metadata fences the offsets. */
    private readonly consumer: ConsumerTransport,
    private readonly options: TransactionCycleOptions,
    private readonly handlers: TransactionHandlers,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {}

  /**
   * Holds the open transaction (opening one when none is, waiting while one ends) until
   * `leave()`: a lane takes its events and writes them only while holding it, so that an abort
   * never finds events taken and not yet written. False once closed (nothing to leave); a fatal
   * failure is thrown.
   */
  async enter(): Promise<boolean> {
    for (;;) {
      if (this.fatal) throw this.fatal;
      if (this.closed) return false;
      // A doomed transaction takes no more sends: they wait for its abort.
      if (this.state === 'open' && this.doomed === undefined) {
        this.active++;
        return true;
      }
      if (this.state === 'idle') void this.open();
      await this.changed.promise;
    }
  }

  leave(): void {
    if (--this.active === 0) this.drained.resolve();
  }

  /**
   * Sends a dispatch's outputs in the open transaction (held with enter()). True: written, and
   * the lane told so. False: the send failed, the events are the lane's head again, and the
   * transaction will abort (the lane then sends its head again). A fatal failure is thrown.
   */
  async write(
    dispatch: LaneDispatch,
    records: OutgoingRecord[],
    replies: OutgoingRecord[],
  ): Promise<{ written: true } | { written: false; error: unknown }> {
    const { lane, events } = dispatch;
    this.lanes.add(lane);
    try {
      await this.producer.send(records);
    } catch (error) {
      dispatch.unsent();
      if (classifyFailure(error) === 'fatal') {
        this.fail(error);
        throw error;
      }
      this.doomed ??= error;
      void this.commit();
      return { written: false, error };
    }
    dispatch.written();
    if (replies.length > 0) {
      const held = this.replies.get(lane);
      if (held) held.push(...replies);
      else this.replies.set(lane, replies);
    }
    this.events += events.length;
    if (this.events >= this.options.maxEvents) void this.commit();
    return { written: true };
  }

  /**
   * Ends the open transaction: commits it, or aborts it when a send failed or the commit cannot
   * succeed. Resolves once it has ended (at once when none is open).
   */
  commit(): Promise<void> {
    this.ending = this.ending.then(() => this.end());
    return this.ending;
  }

  /**
   * Shutdown: no transaction opens any more (what was not written stays uncommitted, to be
   * redelivered); the open one ends once the sends under way have returned.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    await this.commit();
  }

  private async open(): Promise<void> {
    this.state = 'opening';
    try {
      await this.retrying(() => this.producer.beginTransaction());
      this.state = 'open';
      this.openedAt = performance.now();
      this.timer = setTimeout(() => void this.commit(), this.options.intervalMs);
    } catch (error) {
      this.state = 'idle';
      this.fail(error);
    }
    this.wake();
  }

  private async end(): Promise<void> {
    if (this.state !== 'open') return;
    clearTimeout(this.timer);
    this.state = 'ending'; // the gate: sends wait until this transaction has ended
    if (this.active > 0) {
      this.drained = deferred();
      await this.drained.promise;
    }
    const lanes = [...this.lanes];
    try {
      if (this.doomed !== undefined) {
        throw new TransactionAbortedError(`a send failed: ${errorMessage(this.doomed)}`);
      }
      // Revoked lanes too: their outputs never commit without their offsets. Where this member
      // lost the partition, the broker refuses those offsets and the whole transaction aborts.
      const offsets = lanes.flatMap((lane) => {
        const offset = lane.transactionOffset;
        return offset === undefined
          ? []
          : [{ topic: lane.topic, partition: lane.partition, offset }];
      });
      if (offsets.length > 0) {
        await this.retrying(() => this.producer.sendOffsets(offsets, this.consumer));
      }
      await this.retrying(() => this.producer.commitTransaction());
      this.ended('committed');
      for (const lane of lanes) {
        lane.transactionCommitted();
        const replies = this.replies.get(lane);
        if (replies) this.handlers.onReplies(lane, replies);
      }
    } catch (error) {
      if (classifyFailure(error) === 'fatal') {
        this.fail(error);
        return;
      }
      await this.abort(error, lanes);
    } finally {
      this.reset();
    }
  }

  private async abort(cause: unknown, lanes: PartitionLane[]): Promise<void> {
    this.logger.warn(
      { err: errorMessage(cause), events: this.events, lanes: lanes.length },
      'transaction aborted; its events are sent again',
    );
    try {
      await this.retrying(() => this.producer.abortTransaction());
    } catch (error) {
      if (classifyFailure(error) === 'fatal' || this.options.keepRetrying()) {
        this.fail(error);
        return;
      }
      // Stopping past the deadline: the broker aborts it (delivery.transactionTimeoutMs), or the
      // next member with this transactional id does, at once.
      this.logger.warn(
        { err: errorMessage(error) },
        'stopping: the open transaction is left to the broker to abort',
      );
      return;
    }
    this.ended('aborted');
    for (const lane of lanes) lane.transactionAborted(); // each sends its head again
  }

  private ended(result: 'committed' | 'aborted'): void {
    this.metrics.transactions.inc({ result });
    this.metrics.transactionSeconds.observe((performance.now() - this.openedAt) / 1000);
  }

  private reset(): void {
    if (this.state === 'ending') this.state = 'idle';
    this.events = 0;
    this.doomed = undefined;
    this.lanes.clear();
    this.replies.clear();
    this.wake();
  }

  /** A fenced producer (or one whose calls cannot succeed) ends this worker's transactions. */
  private fail(error: unknown): void {
    if (this.fatal) return;
    this.fatal = error;
    if (error instanceof ProducerFencedError) {
      this.metrics.fencings.inc();
      this.logger.error(
        { err: errorMessage(error) },
        'producer fenced: another member owns these partitions now; nothing more is committed',
      );
    }
    this.state = 'idle';
    this.handlers.onFatal(error);
    this.wake();
  }

  private wake(): void {
    const { resolve } = this.changed;
    this.changed = deferred();
    resolve();
  }

  /**
   * Retriable failures (a timeout, the broker away, a coordinator moving) are retried while the
   * worker runs: once the broker is back, a transaction it timed out meanwhile fails as one to
   * abort, and is redone.
   */
  private retrying(call: () => Promise<void>): Promise<void> {
    return retryWithBackoff(call, {
      ...this.options.backoff,
      isRetriable: (error) => error instanceof RetriableError,
      shouldContinue: () => this.options.keepRetrying(),
      onRetry: (error, attempt) =>
        this.logger.warn({ err: errorMessage(error), attempt }, 'transactional call retrying'),
    });
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/**
 * delivery.transactionalId, else "<groupId>.<groupInstanceId>" with static membership (a restarted
 * member fences its predecessor and aborts what it left open), else "<groupId>.<random>".
 */
export function transactionalIdFor(config: WorkerConfig): string {
  const { groupId, groupInstanceId } = config.kafka;
  return config.delivery.transactionalId ?? `${groupId}.${groupInstanceId ?? randomUUID()}`;
}
