/**
 * A batch ready for the model: its items, and their feature rows back to back in one input
 * matrix (as the inference thread featurized them), so it runs without per-row copies.
 */
export class RowBatch<T> {
  constructor(
    readonly items: T[],
    private readonly matrix: Float32Array,
    readonly width: number,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** The rows of every item, row-major. */
  rows(): Float32Array {
    return this.matrix;
  }

  row(index: number): Float32Array {
    return this.matrix.subarray(index * this.width, (index + 1) * this.width);
  }
}
