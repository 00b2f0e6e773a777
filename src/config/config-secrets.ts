import { readSecret } from './secrets.js';
import type { KafkaConnectionOptions, TlsOptions, WorkerConfig } from './worker-config.js';

/**
 * Every secret the config holds, inline or in a file, and the password inside a Redis URL: the
 * logger scrubs each from every line it writes.
 */
export function secretsOf(config: WorkerConfig): string[] {
  const registry = config.schemaRegistry;
  const cache = config.cache;
  const secrets = [
    ...kafkaSecretsOf(config.kafka),
    readQuietly(registry?.password, registry?.passwordFile),
    readQuietly(cache.redisPassword, cache.redisPasswordFile),
    tlsKeyPassword(cache.redisTls),
    urlPassword(cache.redisUrl),
    urlPassword(registry?.url),
  ];
  return present(secrets);
}

/** The secrets of a Kafka connection alone: what a client library or CLI logger scrubs. */
export function kafkaSecretsOf(kafka: KafkaConnectionOptions): string[] {
  const { sasl, ssl } = kafka;
  const secrets = [
    readQuietly(sasl?.password, sasl?.passwordFile),
    readQuietly(sasl?.oauthClientSecret, sasl?.oauthClientSecretFile),
    tlsKeyPassword(ssl),
    // Passwords handed to librdkafka as its own properties (sasl.password, ssl.key.password).
    ...Object.entries(kafka.librdkafka)
      .filter(([key]) => /password|secret/i.test(key))
      .map(([, value]) => String(value)),
  ];
  return present(secrets);
}

function present(secrets: (string | undefined)[]): string[] {
  return secrets.filter((secret): secret is string => secret !== undefined && secret !== '');
}

function tlsKeyPassword(tls: TlsOptions | undefined): string | undefined {
  return readQuietly(tls?.keyPassword, tls?.keyPasswordFile);
}

/** An unreadable secret file is reported where it is used; here it just adds nothing. */
function readQuietly(inline: string | undefined, file: string | undefined): string | undefined {
  try {
    return readSecret(inline, file, '(secret)');
  } catch {
    return inline;
  }
}

function urlPassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}
