import type { FeatureSpec, ModelManifest } from '../model/model-manifest.js';

/** mulberry32: a small seeded PRNG, so event i of a run is always the same event. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A plausible event for any model, built from its model.json: numbers around their default,
 * booleans, a category from the declared list, vectors of small values. `id` is stable per index.
 */
export function sampleEvent(
  manifest: ModelManifest,
  index: number,
  seed = 42,
): Record<string, unknown> {
  const random = seededRandom(seed * 1_000_003 + index);
  const event: Record<string, unknown> = { id: `evt-${index}` };
  for (const feature of manifest.features) event[feature.name] = sampleValue(feature, random);
  return event;
}

function sampleValue(feature: FeatureSpec, random: () => number): unknown {
  switch (feature.type) {
    case 'number': {
      // Non-negative, spread around the declared default (most tabular features are counts/amounts).
      const centre = Math.abs(feature.default ?? 1) || 1;
      return Math.round(centre * (0.2 + random() * 1.6) * 1000) / 1000;
    }
    case 'boolean':
      return random() < 0.2;
    case 'category':
      return feature.categories[Math.floor(random() * feature.categories.length)];
    case 'vector':
      return Array.from(
        { length: feature.length },
        () => Math.round((random() * 2 - 1) * 1e4) / 1e4,
      );
  }
}
