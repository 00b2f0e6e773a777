/**
 * Feature drift: the Population Stability Index of each feature's recent values against the
 * reference distribution its model.json carries (bin edges and training proportions).
 *
 *   PSI = Σ_i (a_i − e_i) · ln(a_i / e_i)
 *
 * over the bins i, with e_i the reference proportion and a_i the share of the window's values
 * in bin i (both floored at 1e-4 so that an empty bin counts as rare, not infinite). Bins are
 * (−∞, edge_0), [edge_0, edge_1), …, [edge_last, +∞). The window is the last `window` to
 * 2 × `window` rows: two tumbling halves, the older one dropped when the newer one is full.
 * Per row and feature the cost is one binary search and one increment.
 *
 * Rules of thumb: < 0.1 no shift, 0.1–0.2 moderate, > 0.2 a shift worth a look.
 */
const FLOOR = 1e-4;

export interface FeatureReference {
  /** Feature name (the metric label). */
  name: string;
  /** Column of the feature in the model's input row. */
  column: number;
  /** Ascending bin edges. */
  edges: number[];
  /** Training share of each of the edges.length + 1 bins. */
  proportions: number[];
}

export class FeatureDrift {
  private current: Uint32Array[];
  private previous: Uint32Array[];
  private currentRows = 0;
  private previousRows = 0;

  constructor(
    private readonly features: FeatureReference[],
    private readonly window: number,
  ) {
    this.current = features.map((feature) => new Uint32Array(feature.proportions.length));
    this.previous = features.map((feature) => new Uint32Array(feature.proportions.length));
  }

  get tracked(): readonly FeatureReference[] {
    return this.features;
  }

  /** Counts every `stride`-th of `count` rows of `width` floats, row-major in `rows`. */
  observe(rows: Float32Array, count: number, width: number, stride = 1): void {
    for (let row = 0; row < count; row += stride) {
      if (this.currentRows === this.window) this.rotate();
      const base = row * width;
      for (let f = 0; f < this.features.length; f++) {
        const feature = this.features[f]!;
        this.current[f]![binOf(feature.edges, rows[base + feature.column]!)]!++;
      }
      this.currentRows++;
    }
  }

  /** PSI per feature over the window; empty when no row was seen yet. */
  psi(): Map<string, number> {
    const result = new Map<string, number>();
    const rows = this.currentRows + this.previousRows;
    if (rows === 0) return result;
    this.features.forEach((feature, f) => {
      let index = 0;
      feature.proportions.forEach((expected, bin) => {
        const actual = Math.max(FLOOR, (this.current[f]![bin]! + this.previous[f]![bin]!) / rows);
        const reference = Math.max(FLOOR, expected);
        index += (actual - reference) * Math.log(actual / reference);
      });
      result.set(feature.name, index);
    });
    return result;
  }

  private rotate(): void {
    const emptied = this.previous;
    for (const counts of emptied) counts.fill(0);
    this.previous = this.current;
    this.previousRows = this.currentRows;
    this.current = emptied;
    this.currentRows = 0;
  }
}

/** Index of the bin holding `value`: the number of edges at or below it. */
export function binOf(edges: number[], value: number): number {
  let low = 0;
  let high = edges.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (value >= edges[middle]!) low = middle + 1;
    else high = middle;
  }
  return low;
}
