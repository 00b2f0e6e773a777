import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../errors.js';

/**
 * A secret given inline (usually by an INFER_* environment variable) or as a file (a mounted
 * secret). The file wins when both are set; its trailing newline is dropped.
 */
export function readSecret(
  inline: string | undefined,
  file: string | undefined,
  fileKey: string,
): string | undefined {
  if (file === undefined) return inline;
  return readConfigFile(file, fileKey).replace(/\r?\n$/, '');
}

/** A file named by a config key (a PEM, a secret); unreadable means a ConfigError naming the key. */
export function readConfigFile(path: string, key: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(key, `cannot read ${path}: ${errorMessage(error)}`);
  }
}
