import type { SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import { tlsConnectionOptions } from '../config/tls-options.js';
import type { KafkaConnectionOptions } from '../config/worker-config.js';
import { ConfigError } from '../errors.js';
import { readConfigFile, readSecret } from '../config/secrets.js';

type Security = Pick<KafkaConnectionOptions, 'ssl' | 'sasl'>;

const LIBRDKAFKA_MECHANISMS = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
  oauthbearer: 'OAUTHBEARER',
} as const;

/** librdkafka properties for TLS and SASL (security.protocol, ssl.*, sasl.*). */
export function librdkafkaSecurity({ ssl, sasl }: Security): Record<string, string> {
  const props: Record<string, string> = {
    'security.protocol': sasl ? (ssl ? 'sasl_ssl' : 'sasl_plaintext') : ssl ? 'ssl' : 'plaintext',
  };
  if (ssl) {
    // Files are read here too, so that an unreadable one is a start-up error naming its key.
    if (ssl.caFile) props['ssl.ca.pem'] = readConfigFile(ssl.caFile, 'kafka.ssl.caFile');
    if (ssl.certFile)
      props['ssl.certificate.pem'] = readConfigFile(ssl.certFile, 'kafka.ssl.certFile');
    if (ssl.keyFile) props['ssl.key.pem'] = readConfigFile(ssl.keyFile, 'kafka.ssl.keyFile');
    const passphrase = readSecret(
      ssl.keyPassword,
      ssl.keyPasswordFile,
      'kafka.ssl.keyPasswordFile',
    );
    if (passphrase) props['ssl.key.password'] = passphrase;
    props['ssl.endpoint.identification.algorithm'] = ssl.verifyHostname ? 'https' : 'none';
  }
  if (sasl) {
    props['sasl.mechanisms'] = LIBRDKAFKA_MECHANISMS[sasl.mechanism];
    if (sasl.mechanism === 'oauthbearer') {
      props['sasl.oauthbearer.method'] = 'oidc';
      props['sasl.oauthbearer.token.endpoint.url'] = sasl.oauthTokenEndpointUrl!;
      props['sasl.oauthbearer.client.id'] = sasl.oauthClientId!;
      props['sasl.oauthbearer.client.secret'] = readSecret(
        sasl.oauthClientSecret,
        sasl.oauthClientSecretFile,
        'kafka.sasl.oauthClientSecretFile',
      )!;
      if (sasl.oauthScope) props['sasl.oauthbearer.scope'] = sasl.oauthScope;
    } else {
      props['sasl.username'] = sasl.username!;
      props['sasl.password'] = readSecret(
        sasl.password,
        sasl.passwordFile,
        'kafka.sasl.passwordFile',
      )!;
    }
  }
  return props;
}

/** kafkajs's ssl and sasl options. kafkajs has no built-in OIDC, so OAUTHBEARER is refused. */
export function kafkajsSecurity({ ssl, sasl }: Security): {
  ssl?: ConnectionOptions;
  sasl?: SASLOptions;
} {
  return {
    ssl: ssl ? tlsConnectionOptions(ssl, 'kafka.ssl') : undefined,
    sasl: sasl ? kafkajsSasl(sasl) : undefined,
  };
}

function kafkajsSasl(sasl: NonNullable<KafkaConnectionOptions['sasl']>): SASLOptions {
  if (sasl.mechanism === 'oauthbearer') {
    throw new ConfigError(
      'kafka.sasl.mechanism',
      'expected plain, scram-sha-256 or scram-sha-512 with kafka.client kafkajs (OAUTHBEARER/OIDC needs librdkafka), got "oauthbearer"',
    );
  }
  const password = readSecret(sasl.password, sasl.passwordFile, 'kafka.sasl.passwordFile')!;
  return { mechanism: sasl.mechanism, username: sasl.username!, password };
}
