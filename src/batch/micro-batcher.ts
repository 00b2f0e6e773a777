export interface MicroBatcherOptions {
  /** Cut a batch when it holds this many items. */
  maxBatchSize: number;
  /** ... or this long after its first item arrived, whichever comes first. */
  maxBatchDelayMs: number;
}

/**
 * Collects items from every partition into batches (Triton-style dynamic batching): a batch is
 * cut at maxBatchSize items or maxBatchDelayMs after its first item. Items keep their own
 * identity (the caller's tag), so results route back to the partition they came from.
 */
export class MicroBatcher<T> {
  private pending: T[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: MicroBatcherOptions,
    private readonly onBatch: (items: T[]) => void,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  add(item: T): void {
    this.pending.push(item);
    if (this.pending.length >= this.options.maxBatchSize) {
      this.cut();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.cut(), this.options.maxBatchDelayMs);
    }
  }

  /** Cuts whatever is pending now (used when draining on shutdown). */
  cut(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.onBatch(batch);
  }
}
