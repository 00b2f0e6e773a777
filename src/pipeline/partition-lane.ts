import type { PoisonInputError } from '../errors.js';
import {
  isSettled,
  type InFlightEvent,
  type Outcome,
  type ShadowAnswer,
} from './in-flight-event.js';

/** Who a lane tells about its partition's progress; connected where the lanes are built. */
export interface LaneListener {
  /** Outcomes were settled: the lane's head may be ready to send (at most once a turn). */
  headReady(lane: PartitionLane): void;
  /**
   * These events' outputs are acknowledged (at least once) or committed with their offsets
   * (exactly once): the lane's commit offset moved past them.
   */
  acknowledged(lane: PartitionLane, events: InFlightEvent[]): void;
}

/**
 * A lane's ready head, taken for produce. Exactly one of its endings is called, once: that is
 * how the sender tells the lane what became of the send.
 */
export interface LaneDispatch {
  readonly lane: PartitionLane;
  /** In offset order; none of them is taken again unless the send is undone. */
  readonly events: InFlightEvent[];
  /** Acknowledged: the commit offset moves past the last event, and the listener is told. */
  ack(): void;
  /** Exactly-once: written in the open transaction; they count as done when it commits. */
  written(): void;
  /** Exactly-once: the send failed; the events are the lane's head again. */
  unsent(): void;
  /**
   * Given up: the commit offset stays before these events for good, and nothing after them is
   * taken or committed. Returns how many queued events were dropped.
   */
  gaveUp(): number;
  /** One of the events gets a dead letter instead of its output (refused, or failed to encode). */
  deadLetter(event: InFlightEvent, error: PoisonInputError): void;
}

/**
 * The in-flight events of one input partition this member owns, in offset order, and the only
 * writer of the partition's delivery state (what is accepted, being sent, acknowledged, to
 * commit, revoked or given up): the stages ask it and tell it, never set it. Outputs leave a
 * lane strictly in offset order, one send at a time, and its commit offset only moves past
 * acknowledged outputs.
 */
export class PartitionLane {
  private readonly events: InFlightEvent[] = [];
  /** Aborted when the partition leaves this member: retries and waits for it end. */
  private readonly revocation = new AbortController();
  /** A headReady call is queued for the end of this turn. */
  private headCheckQueued = false;
  /** Events taken for produce whose acknowledgement has not come back yet. */
  private sending = 0;
  /**
   * Exactly-once: events whose outputs are written in the open transaction, in offset order.
   * They leave when it commits, and go back to the head when it aborts.
   */
  private written: InFlightEvent[] = [];
  /** Offset after the last event this lane accepted; fetched records below it are re-deliveries. */
  private acceptedUpTo: bigint | undefined;
  /** Offset to commit next (last acknowledged + 1); undefined when there is nothing new. */
  private toCommit: string | undefined;
  /** The group's committed position as far as this member knows (for lag). */
  private committedPosition: bigint | undefined;
  /** The partition's high watermark as last seen by the consumer. */
  private highWatermark: bigint | undefined;
  /** A send of this lane's head is under way (one at a time keeps the outputs in order). */
  private flushing = false;
  /** Outcomes arrived while a send was under way: its end looks at the head again. */
  private flushAgain = false;
  /**
   * A produce of this lane was given up (fatal, or stopping): its events and everything after
   * them stay uncommitted, to be redelivered. The lane accepts and sends nothing more; what was
   * acknowledged before may still be committed.
   */
  private givenUp = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** Whether events also wait for a shadow version's prediction before leaving. */
    private readonly withShadow: boolean,
    private readonly listener: LaneListener,
  ) {}

  get key(): string {
    return laneKey(this.topic, this.partition);
  }

  /** Events accepted and not yet acknowledged downstream. */
  get inFlight(): number {
    return this.events.length + this.sending + this.written.length;
  }

  /** Whether fetched records may still join this lane. */
  get accepting(): boolean {
    return !this.revoked && !this.givenUp;
  }

  /** The partition went to another member (or was lost): its queued events were dropped. */
  get revoked(): boolean {
    return this.revocation.signal.aborted;
  }

  /** Aborts when the partition leaves this member. */
  get revokedSignal(): AbortSignal {
    return this.revocation.signal;
  }

  /** Offset after the last event this lane accepted. */
  get nextOffset(): bigint | undefined {
    return this.acceptedUpTo;
  }

  /** Offset to commit next (last acknowledged + 1); undefined when there is nothing new. */
  get commitOffset(): string | undefined {
    return this.toCommit;
  }

  /**
   * Claims the lane's one send; false when the lane is revoked, or when a send is under way (that
   * send's end is then told to look at the head again: no wake-up is lost).
   */
  beginFlush(): boolean {
    if (this.revoked) return false;
    if (this.flushing) {
      this.flushAgain = true;
      return false;
    }
    this.flushing = true;
    return true;
  }

  /** Ends the send; true when a flush was asked for meanwhile, so the head is looked at again. */
  endFlush(): boolean {
    this.flushing = false;
    const again = this.flushAgain && !this.revoked;
    this.flushAgain = false;
    return again;
  }

  /** True when the fetched record at `offset` was already accepted by this lane. */
  alreadyAccepted(offset: string): boolean {
    return this.acceptedUpTo !== undefined && BigInt(offset) < this.acceptedUpTo;
  }

  accept(event: InFlightEvent): void {
    // The first offset fetched is where the group's committed position stood at assignment.
    this.committedPosition ??= BigInt(event.offset);
    this.events.push(event);
    this.acceptedUpTo = offsetAfter(event);
  }

  sawHighWatermark(offset: string | undefined): void {
    if (offset !== undefined) this.highWatermark = BigInt(offset);
  }

  /** The commit of `offset` succeeded. */
  committed(offset: string): void {
    if (this.toCommit === offset) this.toCommit = undefined;
    this.committedPosition = BigInt(offset);
  }

  /** High watermark minus committed position: what the group still has to do on this partition. */
  get lag(): number | undefined {
    if (this.highWatermark === undefined || this.committedPosition === undefined) return undefined;
    const lag = this.highWatermark - this.committedPosition;
    return lag > 0n ? Number(lag) : 0;
  }

  /** The event's answer (or its dead letter) is known. */
  settle(event: InFlightEvent, outcome: Outcome): void {
    recorded(event).outcome = outcome;
    this.headMayBeReady();
  }

  /** The shadow version's answer for the event is known ("none": it has none to give). */
  settleShadow(event: InFlightEvent, answer: ShadowAnswer): void {
    recorded(event).shadow = answer;
    this.headMayBeReady();
  }

  /** Poison before any version answered: a dead letter, and no shadow answer to wait for. */
  deadLetter(event: InFlightEvent, error: PoisonInputError): void {
    recordDeadLetter(event, error);
    this.headMayBeReady();
  }

  /**
   * Removes the completed events at the head for produce: at most `limit`, and at most
   * `maxBytes` by `sizeOf` (but always the first ready one, whatever its size). Undefined when
   * none is ready (or the lane sends nothing more).
   */
  takeReady(
    limit: number,
    maxBytes = Infinity,
    sizeOf: (event: InFlightEvent) => number = () => 0,
  ): LaneDispatch | undefined {
    if (this.givenUp || this.revoked) return undefined;
    let count = 0;
    let bytes = 0;
    while (count < this.events.length && count < limit) {
      const event = this.events[count]!;
      if (!isSettled(event, this.withShadow)) break;
      bytes += sizeOf(event);
      if (count > 0 && bytes > maxBytes) break;
      count++;
    }
    if (count === 0) return undefined;
    const events = this.events.splice(0, count);
    this.sending += count;
    let ended = false;
    const end = (how: () => void): void => {
      if (ended) throw new Error(`a dispatch of ${this.key} was ended twice`);
      ended = true;
      this.sending -= events.length;
      how();
    };
    return {
      lane: this,
      events,
      ack: () => end(() => this.acknowledged(events)),
      written: () => end(() => this.written.push(...events)),
      unsent: () => end(() => this.events.unshift(...events)),
      gaveUp: () => {
        let dropped = 0;
        end(() => {
          this.givenUp = true;
          dropped = this.dropQueued();
        });
        return dropped;
      },
      deadLetter: recordDeadLetter,
    };
  }

  /** Exactly-once: the input offset the open transaction commits for this lane, if any. */
  get transactionOffset(): string | undefined {
    const last = this.written.at(-1);
    return last && offsetAfter(last).toString();
  }

  /** Exactly-once: the open transaction committed: what it wrote is done (and acknowledged). */
  transactionCommitted(): void {
    const done = this.written;
    this.written = [];
    const last = done.at(-1);
    if (!last) return;
    this.committedPosition = offsetAfter(last);
    this.listener.acknowledged(this, done);
  }

  /**
   * Exactly-once: the open transaction aborted; what it wrote is sent again, first (or dropped
   * when the partition was revoked meanwhile: the next owner redoes it).
   */
  transactionAborted(): void {
    if (!this.revoked) this.events.unshift(...this.written);
    this.written = [];
    this.headMayBeReady();
  }

  /**
   * The partition is leaving: nothing more is taken or sent, and what is queued is dropped
   * (returns how many events). Exactly-once: what the open transaction already wrote stays with
   * it, so that its outputs commit with their offsets (while this member still owns the
   * partition) or abort with them; never one without the other.
   */
  revoke(): number {
    this.revocation.abort();
    return this.dropQueued();
  }

  /** Tells the listener once, at the end of this turn, however many outcomes it settled. */
  private headMayBeReady(): void {
    if (this.headCheckQueued || this.revoked) return;
    this.headCheckQueued = true;
    queueMicrotask(() => {
      this.headCheckQueued = false;
      if (!this.revoked && !this.givenUp) this.listener.headReady(this);
    });
  }

  private acknowledged(events: InFlightEvent[]): void {
    this.toCommit = offsetAfter(events.at(-1)!).toString();
    this.listener.acknowledged(this, events);
  }

  private dropQueued(): number {
    const dropped = this.events.length;
    this.events.length = 0;
    return dropped;
  }
}

/** The lane's own view of an event: what it alone writes (readonly to every other stage). */
function recorded(event: InFlightEvent): { outcome?: Outcome; shadow?: ShadowAnswer } {
  return event as { outcome?: Outcome; shadow?: ShadowAnswer };
}

/** A dead letter, and no shadow answer to wait for or to send beside it. */
function recordDeadLetter(event: InFlightEvent, error: PoisonInputError): void {
  const record = recorded(event);
  record.outcome = { type: 'dead-letter', error };
  record.shadow = 'none';
}

/** The offset to commit once `event` is done. */
function offsetAfter(event: InFlightEvent): bigint {
  return BigInt(event.offset) + 1n;
}

export function laneKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}
