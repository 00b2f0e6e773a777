import type { z } from 'zod';

/**
 * For a misspelled config key, the key that was probably meant: the closest known key of the
 * same object, when it is close enough (edit distance at most a third of its length, at least 2).
 */
export function closestKnownKey(
  schema: z.ZodType,
  objectPath: readonly PropertyKey[],
  unknown: string,
): string | undefined {
  const shape = objectShapeAt(schema, objectPath);
  if (!shape) return undefined;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(unknown.length / 3)) + 1;
  for (const known of Object.keys(shape)) {
    const distance = editDistance(unknown.toLowerCase(), known.toLowerCase());
    if (distance < bestDistance) {
      best = known;
      bestDistance = distance;
    }
  }
  return best;
}

type Shape = Record<string, z.ZodType>;

interface SchemaInternals {
  _zod: {
    def: { type: string; innerType?: unknown; in?: unknown; out?: unknown; shape?: Shape };
  };
}

/** The keys an object schema at `path` accepts, looking through defaults, optionals and pipes. */
function objectShapeAt(schema: z.ZodType, path: readonly PropertyKey[]): Shape | undefined {
  let node = unwrap(schema as unknown as SchemaInternals);
  for (const segment of path) {
    const shape = node._zod.def.type === 'object' ? node._zod.def.shape : undefined;
    const child = shape?.[segment as string];
    if (!child) return undefined;
    node = unwrap(child as unknown as SchemaInternals);
  }
  return node._zod.def.type === 'object' ? node._zod.def.shape : undefined;
}

function unwrap(node: SchemaInternals): SchemaInternals {
  for (;;) {
    const { def } = node._zod;
    if (def.innerType) node = def.innerType as SchemaInternals;
    else if (def.type === 'pipe' && def.in) {
      // A preprocess (`delivery: exactly-once`) is a pipe from a transform into the object.
      const input = def.in as SchemaInternals;
      node = (input._zod.def.type === 'transform' ? def.out : input) as SchemaInternals;
    } else return node;
  }
}

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}
