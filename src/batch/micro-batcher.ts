export interface MicroBatcherOptions {
  /** Cut a batch when it holds this many items. */
  maxBatchSize: number;
  /** ... or this long after its first item arrived, whichever comes first. */
  maxBatchDelayMs: number;
}

/**
 * Collects items from every partition into batches (Triton-style dynamic batching). A batch is
 * cut at maxBatchSize items; otherwise as soon as a runner (an inference thread) is idle, once
 * the rows arriving together have joined (the end of this turn of the event loop); otherwise
 * when a runner frees up; and never later than maxBatchDelayMs after its first item. So low load
 * gets small batches at once and high load large ones, without tuning. Items keep their own
 * identity (the caller's tag), so results route back to their lane.
 */
export class MicroBatcher<T> {
  private pending: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  constructor(
    private readonly options: MicroBatcherOptions,
    private readonly onBatch: (batch: T[]) => void,
    /** Whether a runner could take a batch now; without one, batches wait for size or delay. */
    private readonly runnerIdle: () => boolean = () => false,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  add(item: T): void {
    this.pending.push(item);
    if (this.pending.length >= this.options.maxBatchSize) {
      this.cut();
      return;
    }
    this.timer ??= setTimeout(() => this.cut(), this.options.maxBatchDelayMs);
    if (this.runnerIdle()) this.immediate ??= setImmediate(() => this.cut());
  }

  /** A runner finished its batch: what is pending goes to it now. */
  runnerFreed(): void {
    if (this.pending.length > 0) this.cut();
  }

  /** Cuts whatever is pending now (used when draining on shutdown). */
  cut(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.onBatch(batch);
  }
}
