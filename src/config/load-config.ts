import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../errors.js';
import { closestKnownKey } from './key-suggestions.js';
import { workerConfigSchema, type WorkerConfig } from './worker-config.js';

/** Environment variables with this prefix override file keys: INFER_BATCHING__MAX_BATCH_SIZE=32. */
export const ENV_PREFIX = 'INFER_';

/**
 * Reads a YAML or JSON config file, applies environment overrides and validates the result once.
 * Throws ConfigError naming the first bad key, its value and what was expected.
 */
export function loadConfig(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): WorkerConfig {
  const fromFile = path ? readConfigFile(path) : {};
  const merged = applyEnvOverrides(fromFile, env);
  const overrides = envOverrides(env);
  // An override that parsed as JSON (12345, true) but sits where text is expected stays text.
  for (const [key, raw] of Object.entries(overrides)) {
    const path = key.split('.');
    if (typeof valueAt(merged, path) === 'string') continue;
    const trial = structuredClone(merged);
    setAt(trial, path, raw);
    if (
      !workerConfigSchema
        .safeParse(trial)
        .error?.issues.some((issue) => issue.path.join('.') === key)
    ) {
      setAt(merged, path, raw);
    }
  }
  return validateConfig(merged, new Set(Object.keys(overrides)));
}

/**
 * Validates once; throws ConfigError naming the first bad key. An unknown key (a typo) is an
 * error too, with the key that was probably meant; `fromEnv` names the keys set by INFER_*
 * variables, so that the message names the variable.
 */
export function validateConfig(
  raw: unknown,
  fromEnv: ReadonlySet<string> = new Set(),
): WorkerConfig {
  return validateAgainst(workerConfigSchema, '', raw, fromEnv);
}

/** validateConfig for one section's schema (the client library's options); keys get `prefix`. */
export function validateAgainst<T extends z.ZodType>(
  schema: T,
  prefix: string,
  raw: unknown,
  fromEnv: ReadonlySet<string> = new Set(),
): z.output<T> {
  const result = schema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const named = (path: readonly PropertyKey[]) =>
    [prefix, ...path].filter((segment) => segment !== '').join('.');
  // A typo first: it is often why a required key looks missing.
  const { issues } = result.error;
  const issue = issues.find((candidate) => candidate.code === 'unrecognized_keys') ?? issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const unknown = issue.keys[0]!;
    const key = named([...issue.path, unknown]);
    const meant = closestKnownKey(schema, issue.path, unknown);
    const meantKey = meant && named([...issue.path, meant]);
    const setBy = [...fromEnv].find((set) => set === key || set.startsWith(`${key}.`));
    const where = setBy ? ` (set by ${envVariableFor(setBy)})` : '';
    const hint = meantKey ? `; did you mean "${setBy ? envVariableFor(meantKey) : meantKey}"?` : '';
    throw new ConfigError(key, `unknown key${where}${hint}`);
  }
  throw new ConfigError(
    named(issue.path) || '(root)',
    `${describeIssue(issue)}, got ${describeValue(valueAt(raw, issue.path), issue.path.at(-1))}`,
  );
}

/** kafka.groupId → INFER_KAFKA__GROUP_ID. */
export function envVariableFor(key: string): string {
  return (
    ENV_PREFIX +
    key
      .split('.')
      .map((segment) => segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
      .join('__')
  );
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('(file)', `cannot read ${path}: ${errorMessage(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError('(file)', `${path} is not valid YAML/JSON: ${errorMessage(error)}`);
  }
  if (!isRecord(parsed)) throw new ConfigError('(file)', `${path} must hold an object`);
  return parsed;
}

/** INFER_KAFKA__GROUP_ID=x sets kafka.groupId; values that look like JSON are parsed. */
export function applyEnvOverrides(
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  const merged = structuredClone(config);
  for (const [key, value] of Object.entries(envOverrides(env))) {
    setAt(merged, key.split('.'), parseEnvValue(value));
  }
  return merged;
}

/** INFER_* variables as dotted config keys ("kafka.groupId") with their raw text. */
function envOverrides(env: NodeJS.ProcessEnv): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    overrides[name.slice(ENV_PREFIX.length).split('__').map(snakeToCamel).join('.')] = value;
  }
  return overrides;
}

/** Sections that take a word for one of their keys: `delivery: exactly-once`. */
const SHORTHANDS: Record<string, string> = { delivery: 'guarantee' };

function setAt(config: Record<string, unknown>, path: string[], value: unknown): void {
  let node = config;
  for (const segment of path.slice(0, -1)) {
    if (!isRecord(node[segment])) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  const last = path.at(-1)!;
  const shorthand = path.length === 1 ? SHORTHANDS[last] : undefined;
  // INFER_DELIVERY=exactly-once sets delivery.guarantee, keeping the file's other delivery keys.
  if (shorthand && typeof value === 'string' && isRecord(node[last])) {
    (node[last] as Record<string, unknown>)[shorthand] = value;
    return;
  }
  node[last] = value;
}

function parseEnvValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function snakeToCamel(name: string): string {
  return name.toLowerCase().replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  if (issue.code === 'too_small') return `expected ${issue.origin} >= ${String(issue.minimum)}`;
  if (issue.code === 'too_big') return `expected ${issue.origin} <= ${String(issue.maximum)}`;
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.join(', ')}`;
  return issue.message.replace(/^Invalid input: /, '');
}

/** Key names whose values are secrets: never shown in an error, which goes to stderr as is. */
const SECRET_KEY = /pass|secret|token|credential|jaas|private|sasl/i;

/** The offending value for the message, with secrets and URL passwords redacted. */
function describeValue(value: unknown, key: PropertyKey | undefined): string {
  if (value === undefined) return 'nothing';
  if (typeof key === 'string' && SECRET_KEY.test(key)) return '[redacted]';
  const text =
    JSON.stringify(value, (name, inner: unknown) =>
      name !== '' && SECRET_KEY.test(name) ? '[redacted]' : inner,
    ) ?? String(value);
  return text.replace(/(\/\/[^/:@\s"]*:)[^@\s"]*@/g, '$1[redacted]@');
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let node = raw;
  for (const [index, segment] of path.entries()) {
    // `delivery: exactly_once` is delivery.guarantee's value.
    const shorthand = index === 1 ? SHORTHANDS[path[0] as string] : undefined;
    if (typeof node === 'string' && shorthand === segment) return node;
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  return node;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
