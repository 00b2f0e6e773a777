/**
 * The librdkafka transport's native module (@confluentinc/kafka-javascript). On a laptop with
 * internet `npm ci` downloads its prebuilt binary; where that host is unreachable (CI here), it
 * must be built from its bundled librdkafka, linked against the system's SASL, zstd, lz4, curl and
 * OpenSSL (CKJS_LINKING=dynamic), which this installs with apt when missing. About 90 s, once.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { aptInstall, runOrThrow } from './daemon.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODULE = '@confluentinc/kafka-javascript';
const BUILD_PACKAGES = [
  'g++',
  'make',
  'python3',
  'libssl-dev',
  'libsasl2-dev',
  'libzstd-dev',
  'liblz4-dev',
  'libcurl4-openssl-dev',
];

/** True when the native module loads in a fresh Node process. */
export function librdkafkaLoads(): boolean {
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(MODULE)})`], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  return probe.status === 0;
}

function missingBuildPackages(): string[] {
  return BUILD_PACKAGES.filter(
    (name) =>
      spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' }).stdout !==
      'install ok installed',
  );
}

/**
 * Builds the module when it does not load. Throws with the reason when it cannot be built; the
 * worker then runs on kafkajs only with kafka.client auto (or kafkajs).
 */
export function ensureLibrdkafka(): 'present' | 'built' {
  if (librdkafkaLoads()) return 'present';
  process.stderr.write(`librdkafka: ${MODULE} does not load; building it from source (~90 s)\n`);
  const missing = missingBuildPackages();
  if (missing.length > 0) aptInstall('librdkafka', missing);
  const env = { ...process.env, CKJS_LINKING: 'dynamic' };
  const installed = existsSync(`${ROOT}node_modules/${MODULE}/package.json`);
  if (installed) {
    runOrThrow('npm', ['rebuild', MODULE, '--foreground-scripts'], env);
  } else {
    // npm ci drops an optional dependency whose build failed: bring back the locked version.
    const lock = JSON.parse(readFileSync(`${ROOT}package-lock.json`, 'utf8')) as {
      packages: Record<string, { version?: string }>;
    };
    const version = lock.packages[`node_modules/${MODULE}`]?.version ?? 'latest';
    runOrThrow(
      'npm',
      ['install', '--no-save', '--foreground-scripts', `${MODULE}@${version}`],
      env,
    );
  }
  if (!librdkafkaLoads())
    throw new Error(`librdkafka: ${MODULE} was built but still does not load`);
  return 'built';
}
