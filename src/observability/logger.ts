import { pino, type Logger } from 'pino';

export type { Logger };

/** Config paths that hold secrets: redacted wherever a logged object carries them. */
const SECRET_PATHS = [
  '*.password',
  '*.keyPassword',
  '*.oauthClientSecret',
  '*.redisPassword',
  '*.sasl.password',
  '*.sasl.oauthClientSecret',
  '*.ssl.keyPassword',
  '*.redisTls.keyPassword',
  'config.*.password',
  'config.*.sasl.password',
];
const CENSOR = '[redacted]';

/**
 * pino on stdout. `secrets` (the configured passwords and keys, see secretsOf) are scrubbed from
 * every line as written, whatever logged them (an error message, a client library's own log), and
 * the config paths that hold secrets are redacted from logged objects.
 */
export function createLogger(
  level: string,
  name = 'kafka-inference-worker',
  secrets: readonly string[] = [],
): Logger {
  const scrub = secrets.filter((secret) => secret.length >= 4);
  return pino({
    name,
    level,
    redact: { paths: SECRET_PATHS, censor: CENSOR },
    ...(scrub.length > 0
      ? {
          hooks: {
            streamWrite: (line: string) => {
              let out = line;
              for (const secret of scrub) {
                for (const form of new Set([
                  secret,
                  JSON.stringify(secret).slice(1, -1),
                  encodeURIComponent(secret),
                ])) {
                  out = out.split(form).join(CENSOR);
                }
              }
              return out;
            },
          },
        }
      : {}),
  });
}
