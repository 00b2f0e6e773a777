import type { InFlightEvent } from './in-flight-event.js';
import type { ServingVersion } from './serving-version.js';

/** Share of the key-hash space, in basis points: 10000 = every key. */
const BUCKETS = 10_000;

/**
 * Chooses the model version for each event: the primary, or (sticky by key) a canary for a
 * configured share of keys; a shadow, when configured, sees every event besides.
 */
export class ModelRouter {
  constructor(
    public primary: ServingVersion,
    public canary?: { version: ServingVersion; percent: number },
    readonly shadow?: { version: ServingVersion; topic: string },
  ) {}

  /** Keyless events hash their source position instead (built only when a canary runs). */
  route(event: Pick<InFlightEvent, 'key' | 'topic' | 'partition' | 'offset'>): ServingVersion {
    if (!this.canary) return this.primary;
    const key = event.key ?? Buffer.from(`${event.topic}/${event.partition}/${event.offset}`);
    const bucket = fnv1a(key) % BUCKETS;
    return bucket < this.canary.percent * (BUCKETS / 100) ? this.canary.version : this.primary;
  }

  /** Makes `next` the primary from now on; returns the one it replaced. */
  swapPrimary(next: ServingVersion): ServingVersion {
    const previous = this.primary;
    this.primary = next;
    return previous;
  }

  /** Sends every key to the primary from now on; returns the canary it dropped. */
  dropCanary(): ServingVersion | undefined {
    const dropped = this.canary?.version;
    this.canary = undefined;
    return dropped;
  }

  all(): ServingVersion[] {
    return [this.primary, this.canary?.version, this.shadow?.version].filter(
      (v): v is ServingVersion => !!v,
    );
  }
}

/** 32-bit FNV-1a: a stable, well-spread hash of the key bytes. */
export function fnv1a(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash >>> 0;
}
