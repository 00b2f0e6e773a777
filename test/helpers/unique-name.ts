import { randomBytes } from 'node:crypto';

/**
 * A name no other test run uses, e.g. uniqueName('smoke') -> "smoke-m3k9x2-4f1a9c0e".
 * Only [a-zA-Z0-9._-], so it is valid as a Kafka topic, consumer group, Redis key or registry subject.
 */
export function uniqueName(prefix: string): string {
  const safe = prefix.replace(/[^a-zA-Z0-9._-]/g, '-');
  return `${safe}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
