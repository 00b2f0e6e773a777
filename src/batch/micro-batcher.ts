export interface MicroBatcherOptions {
  /** Cut a batch when it holds this many items. */
  maxBatchSize: number;
  /** ... or this long after its first item arrived, whichever comes first. */
  maxBatchDelayMs: number;
}

/** A cut batch: its items, and their rows written back to back into one model input matrix. */
export class RowBatch<T> {
  readonly items: T[] = [];
  private readonly matrix: Float32Array;

  constructor(
    readonly width: number,
    capacity: number,
  ) {
    this.matrix = new Float32Array(width * capacity);
  }

  get size(): number {
    return this.items.length;
  }

  /** The rows of every item, row-major: a view, not a copy. */
  rows(): Float32Array {
    return this.matrix.subarray(0, this.items.length * this.width);
  }

  row(index: number): Float32Array {
    return this.matrix.subarray(index * this.width, (index + 1) * this.width);
  }

  /** Writes the next row with `write`; the item joins only when `write` did not throw. */
  add(item: T, write: (target: Float32Array, offset: number) => void): void {
    write(this.matrix, this.items.length * this.width);
    this.items.push(item);
  }
}

/** Writes one item's row into `target` at `offset`; throws to refuse the item. */
export type RowWriter = (target: Float32Array, offset: number) => void;

/**
 * Collects items from every partition into batches (Triton-style dynamic batching). A batch is
 * cut at maxBatchSize items; otherwise as soon as a runner (an inference thread) is idle, once
 * the rows arriving together have joined (the end of this turn of the event loop); otherwise
 * when a runner frees up; and never later than maxBatchDelayMs after its first item. So low load
 * gets small batches at once and high load large ones, without tuning. Each item's row is
 * written straight into the batch's input matrix, so a batch goes to the model without per-row
 * copies. Items keep their own identity (the caller's tag), so results route back to their lane.
 */
export class MicroBatcher<T> {
  private pending: RowBatch<T>;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  constructor(
    private readonly options: MicroBatcherOptions,
    private readonly rowWidth: number,
    private readonly onBatch: (batch: RowBatch<T>) => void,
    /** Whether a runner could take a batch now; without one, batches wait for size or delay. */
    private readonly runnerIdle: () => boolean = () => false,
  ) {
    this.pending = this.nextBatch();
  }

  get size(): number {
    return this.pending.size;
  }

  /** Adds `item` with its row; when `writeRow` throws, nothing is added and the error propagates. */
  add(item: T, writeRow: RowWriter = () => {}): void {
    this.pending.add(item, writeRow);
    if (this.pending.size >= this.options.maxBatchSize) {
      this.cut();
      return;
    }
    this.timer ??= setTimeout(() => this.cut(), this.options.maxBatchDelayMs);
    if (this.runnerIdle()) this.immediate ??= setImmediate(() => this.cut());
  }

  /** A runner finished its batch: what is pending goes to it now. */
  runnerFreed(): void {
    if (this.pending.size > 0) this.cut();
  }

  /** Cuts whatever is pending now (used when draining on shutdown). */
  cut(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = this.nextBatch();
    this.onBatch(batch);
  }

  private nextBatch(): RowBatch<T> {
    return new RowBatch<T>(this.rowWidth, this.options.maxBatchSize);
  }
}
