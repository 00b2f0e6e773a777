/**
 * Feature drift: the Population Stability Index of each feature's recent values against the
 * reference distribution its model.json carries (bin edges and training proportions).
 *
 *   PSI = Σ_i (a_i − e_i) · ln(a_i / e_i)
 *
 * over the bins i, with e_i the reference proportion and a_i the share of the window's values
 * in bin i (both floored at 1e-4 so that an empty bin counts as rare, not infinite). What a bin
 * is depends on the feature's kind:
 * - number and boolean: (−∞, edge_0), [edge_0, edge_1), …, [edge_last, +∞) over the value;
 * - vector: the same over the vector's Euclidean norm (the drift of its magnitude);
 * - category (one-hot columns): one bin per category; a row with none set (an absent optional
 *   category) is not counted for it. The model's top label is tracked the same way.
 * The window is the last `window` to 2 × `window` rows: two tumbling halves, the older one
 * dropped when the newer one is full. Per row and feature the cost is one binary search (or a
 * scan of the one-hot columns, or of the vector) and one increment.
 *
 * Rules of thumb: < 0.1 no shift, 0.1–0.2 moderate, > 0.2 a shift worth a look.
 */
const FLOOR = 1e-4;

/** What drift is tracked for one feature: where it sits in the row and its reference. */
export type FeatureReference =
  | {
      /** Feature name (the metric label). */
      name: string;
      /** number (the default) and boolean: bins over the value in `column`. */
      kind?: 'number' | 'boolean';
      /** Column of the feature in the model's input row. */
      column: number;
      /** Ascending bin edges. */
      edges: number[];
      /** Training share of each of the edges.length + 1 bins. */
      proportions: number[];
    }
  | {
      name: string;
      /** One-hot columns from `column`, one per proportion. */
      kind: 'category';
      column: number;
      proportions: number[];
    }
  | {
      name: string;
      /** `length` columns from `column`; bins over their Euclidean norm. */
      kind: 'vector';
      column: number;
      length: number;
      edges: number[];
      proportions: number[];
    };

/** The bin of the feature in the row starting at `base`, or -1 when the row has none. */
type Binner = (rows: Float32Array, base: number) => number;

export class FeatureDrift {
  private current: Uint32Array[];
  private previous: Uint32Array[];
  private currentRows = 0;
  private readonly binners: Binner[];

  constructor(
    private readonly features: FeatureReference[],
    private readonly window: number,
  ) {
    this.current = features.map((feature) => new Uint32Array(feature.proportions.length));
    this.previous = features.map((feature) => new Uint32Array(feature.proportions.length));
    this.binners = features.map(binnerFor);
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
        const bin = this.binners[f]!(rows, base);
        if (bin >= 0) this.current[f]![bin]!++;
      }
      this.currentRows++;
    }
  }

  /** PSI per feature over the window; none for a feature no row has counted yet. */
  psi(): Map<string, number> {
    const result = new Map<string, number>();
    this.features.forEach((feature, f) => {
      const current = this.current[f]!;
      const previous = this.previous[f]!;
      let rows = 0;
      for (let bin = 0; bin < current.length; bin++) rows += current[bin]! + previous[bin]!;
      if (rows === 0) return;
      let index = 0;
      feature.proportions.forEach((expected, bin) => {
        const actual = Math.max(FLOOR, (current[bin]! + previous[bin]!) / rows);
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
    this.current = emptied;
    this.currentRows = 0;
  }
}

function binnerFor(feature: FeatureReference): Binner {
  const { column } = feature;
  switch (feature.kind) {
    case 'category': {
      const end = column + feature.proportions.length;
      return (rows, base) => {
        for (let at = base + column; at < base + end; at++)
          if (rows[at]! >= 0.5) return at - base - column;
        return -1;
      };
    }
    case 'vector': {
      const { edges, length } = feature;
      return (rows, base) => {
        let squares = 0;
        for (let at = base + column; at < base + column + length; at++) squares += rows[at]! ** 2;
        return binOf(edges, Math.sqrt(squares));
      };
    }
    default: {
      const { edges } = feature;
      return (rows, base) => binOf(edges, rows[base + column]!);
    }
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
