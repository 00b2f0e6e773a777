import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { z } from 'zod';
import { createRegistryClient } from '../codec/codec-set.js';
import { validateAgainst } from '../config/load-config.js';
import { schemaRegistrySchema } from '../config/worker-config.js';

/** The worker config's `schemaRegistry` section: url, and basic auth or a CA where needed. */
export type ClientRegistryOptions = z.input<typeof schemaRegistrySchema>;

export function clientRegistry(
  options: ClientRegistryOptions | undefined,
  clientId: string,
): SchemaRegistry | undefined {
  if (!options) return undefined;
  return createRegistryClient(validateAgainst(schemaRegistrySchema, 'registry', options), clientId);
}
