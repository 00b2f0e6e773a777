import type { ConnectionOptions } from 'node:tls';
import { readConfigFile, readSecret } from './secrets.js';
import type { TlsOptions } from './worker-config.js';

/** Node TLS options (kafkajs, the registry's HTTPS agent, ioredis) from a tls config section. */
export function tlsConnectionOptions(tls: TlsOptions, keyPrefix: string): ConnectionOptions {
  const options: ConnectionOptions = { rejectUnauthorized: true };
  if (tls.caFile) options.ca = [readConfigFile(tls.caFile, `${keyPrefix}.caFile`)];
  if (tls.certFile) options.cert = readConfigFile(tls.certFile, `${keyPrefix}.certFile`);
  if (tls.keyFile) options.key = readConfigFile(tls.keyFile, `${keyPrefix}.keyFile`);
  const passphrase = readSecret(
    tls.keyPassword,
    tls.keyPasswordFile,
    `${keyPrefix}.keyPasswordFile`,
  );
  if (passphrase) options.passphrase = passphrase;
  // The chain is still verified; only the host name check is skipped, when asked for by name.
  if (!tls.verifyHostname) options.checkServerIdentity = () => undefined;
  return options;
}
