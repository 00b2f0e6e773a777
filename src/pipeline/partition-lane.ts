import { isSettled, type InFlightEvent } from './in-flight-event.js';

/**
 * The in-flight events of one input partition this member owns, in offset order, and the only
 * writer of the partition's delivery state (what is accepted, being sent, acknowledged, to
 * commit, revoked or given up): the stages ask it and tell it, never set it. Outputs leave a
 * lane strictly in offset order, one send at a time, and its commit offset only moves past
 * acknowledged outputs.
 */
export class PartitionLane {
  private readonly events: InFlightEvent[] = [];
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
  private isRevoked = false;
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
    private readonly withShadow = false,
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
    return !this.isRevoked && !this.givenUp;
  }

  /** The partition went to another member (or was lost): its queued events were dropped. */
  get revoked(): boolean {
    return this.isRevoked;
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
    if (this.isRevoked) return false;
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
    const again = this.flushAgain && !this.isRevoked;
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
    this.acceptedUpTo = BigInt(event.offset) + 1n;
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

  /**
   * Removes and returns the completed events at the head for produce: at most `limit`, and at
   * most `maxBytes` by `sizeOf` (but always the first ready one, whatever its size).
   */
  takeReady(
    limit: number,
    maxBytes = Infinity,
    sizeOf: (event: InFlightEvent) => number = () => 0,
  ): InFlightEvent[] {
    if (this.givenUp || this.isRevoked) return [];
    let count = 0;
    let bytes = 0;
    while (count < this.events.length && count < limit) {
      const event = this.events[count]!;
      if (!isSettled(event, this.withShadow)) break;
      bytes += sizeOf(event);
      if (count > 0 && bytes > maxBytes) break;
      count++;
    }
    const ready = this.events.splice(0, count);
    this.sending += ready.length;
    return ready;
  }

  /** The produce of `events` (from takeReady) was acknowledged. */
  acknowledged(events: InFlightEvent[]): void {
    this.sending -= events.length;
    const last = events.at(-1);
    if (last) this.toCommit = (BigInt(last.offset) + 1n).toString();
  }

  /**
   * Exactly-once: the outputs of `events` (from takeReady) are written in the open transaction;
   * they count as done only when it commits.
   */
  wroteInTransaction(events: InFlightEvent[]): void {
    this.sending -= events.length;
    for (const event of events) this.written.push(event);
  }

  /** Exactly-once: the send of `events` (from takeReady) failed; they are the head again. */
  unsent(events: InFlightEvent[]): void {
    this.sending -= events.length;
    this.events.unshift(...events);
  }

  /** Exactly-once: the input offset the open transaction commits for this lane, if any. */
  get transactionOffset(): string | undefined {
    const last = this.written.at(-1);
    return last && (BigInt(last.offset) + 1n).toString();
  }

  /** Exactly-once: the open transaction committed; returns the events it made visible. */
  transactionCommitted(): InFlightEvent[] {
    const done = this.written;
    this.written = [];
    const last = done.at(-1);
    if (last) this.committedPosition = BigInt(last.offset) + 1n;
    return done;
  }

  /**
   * Exactly-once: the open transaction aborted; what it wrote is sent again, first (or dropped
   * when the partition was revoked meanwhile: the next owner redoes it).
   */
  transactionAborted(): void {
    if (!this.isRevoked) this.events.unshift(...this.written);
    this.written = [];
  }

  /**
   * The produce of `events` (from takeReady) was given up. The commit offset stays before them
   * for good: no later event of this lane may be sent, or its acknowledgement would commit past
   * outputs that were never written. Drops what is queued; returns how many events were dropped.
   */
  gaveUp(events: InFlightEvent[]): number {
    this.sending -= events.length;
    this.givenUp = true;
    return this.dropQueued();
  }

  /**
   * The partition is leaving: nothing more is taken or sent, and what is queued is dropped
   * (returns how many events). Exactly-once: what the open transaction already wrote stays with
   * it, so that its outputs commit with their offsets (while this member still owns the
   * partition) or abort with them; never one without the other.
   */
  revoke(): number {
    this.isRevoked = true;
    return this.dropQueued();
  }

  private dropQueued(): number {
    const dropped = this.events.length;
    this.events.length = 0;
    return dropped;
  }
}

export function laneKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}
