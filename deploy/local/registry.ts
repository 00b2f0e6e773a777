/**
 * Schema registry of the local stack: Apicurio Registry 2.6.13.Final, a real registry serving the
 * Confluent Schema Registry REST API (under /apis/ccompat/v7; v6 answers too), run with no Docker
 * from its prebuilt distribution on Maven Central (io.apicurio:apicurio-registry-app:2.6.13.Final,
 * classifier `all`, type tar.gz; see deploy/local/registry/pom.xml for why this version).
 *
 * - Storage is H2 in a file under .stack/registry/data: subjects and ids survive a restart.
 * - No authentication; bound to 127.0.0.1 only.
 * - Global compatibility is set to BACKWARD after each start, as Confluent's default.
 * - Schema ids follow Confluent: one id per distinct schema, shared between subjects.
 *
 * Clients take SCHEMA_REGISTRY_URL as their base URL, e.g.
 * `new SchemaRegistry({ host: SCHEMA_REGISTRY_URL })` (@kafkajs/confluent-schema-registry) or
 * `kcat -s value=avro -r ${SCHEMA_REGISTRY_URL}`.
 *
 * Only node built-ins here, on purpose: this file must work before anything else is installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { STACK_DIR, type StackComponent } from './component.js';

/** Keep in step with <apicurio.version> in deploy/local/registry/pom.xml. */
export const APICURIO_VERSION = '2.6.13.Final';

const HOST = '127.0.0.1';
/** 8081 unless SCHEMA_REGISTRY_PORT says otherwise (e.g. when something else holds 8081). */
const PORT = parsePort(process.env.SCHEMA_REGISTRY_PORT, 8081);

/** Base URL of the Confluent-compatible API; clients append /subjects, /schemas/ids/{id}, ... */
export const SCHEMA_REGISTRY_URL = `http://${HOST}:${PORT}/apis/ccompat/v7`;

const REGISTRY_SRC = new URL('./registry/', import.meta.url).pathname;
const POM = join(REGISTRY_SRC, 'pom.xml');
const APP_PROPERTIES = join(REGISTRY_SRC, 'application.properties');
const BUILD_DIR = join(STACK_DIR, 'registry-build');
const DIST_DIR = join(BUILD_DIR, `apicurio-registry-${APICURIO_VERSION}`);
const RUNNER_JAR = join(DIST_DIR, `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`);
/** Written after Maven unpacked everything, so an interrupted unpack is not taken for a complete one. */
const DIST_COMPLETE = join(DIST_DIR, '.complete');
/** Pid and log files; a registry on another port (SCHEMA_REGISTRY_PORT) gets its own. */
const RUN_DIR = join(STACK_DIR, PORT === 8081 ? 'registry' : `registry-${PORT}`);
const PID_FILE = join(RUN_DIR, 'registry.pid');
const LOG_FILE = join(RUN_DIR, 'registry.log');
/** Our registry's command line contains this; an unrelated process reusing the pid does not. */
const CMDLINE_MARKER = `-Dquarkus.http.port=${PORT} -jar ${RUNNER_JAR}`;

const START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 20_000;
const PROBE_TIMEOUT_MS = 2_000;
/** A log bigger than this is moved to `<log>.1` at the next launch. */
const MAX_LOG_BYTES = 20 * 1024 * 1024;

function parsePort(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new Error(`SCHEMA_REGISTRY_PORT=${value} is not a TCP port`);
  }
  return port;
}

function javaBinary(): string {
  const home = process.env.JAVA_HOME;
  return home ? join(home, 'bin', 'java') : 'java';
}

function jvmArgs(): string[] {
  const heap = (process.env.SCHEMA_REGISTRY_HEAP_OPTS ?? '-Xms64m -Xmx384m')
    .split(/\s+/)
    .filter(Boolean);
  return [
    ...heap,
    // Two cores shared with Kafka and the tests: a single-threaded collector is the cheapest.
    '-XX:+UseSerialGC',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dquarkus.config.locations=file:${APP_PROPERTIES}`,
    // A file-backed H2 instead of the in-memory default: schema ids survive a registry restart,
    // as they do with Confluent's registry (which keeps them in Kafka). Outage tests rely on it.
    `-Dquarkus.datasource.jdbc.url=jdbc:h2:file:${join(RUN_DIR, 'data', 'registry_db')}`,
    // System properties outrank the distribution's `%prod.quarkus.http.port=${HTTP_PORT:8080}`.
    `-Dquarkus.http.host=${HOST}`,
    `-Dquarkus.http.port=${PORT}`,
    '-jar',
    RUNNER_JAR,
  ];
}

function installed(): boolean {
  return existsSync(DIST_COMPLETE) && existsSync(RUNNER_JAR);
}

function onPath(command: string): boolean {
  return (
    spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0
  );
}

/** Java's feature version (17 for "17.0.15"), or undefined when java does not run. */
function javaFeatureVersion(): number | undefined {
  const result = spawnSync(javaBinary(), ['-version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  const match = /version "(?:1\.)?(\d+)/.exec(`${result.stderr}${result.stdout}`);
  return match ? Number(match[1]) : undefined;
}

/** True when the Confluent API answers: GET /subjects gives 200 and a JSON array. */
async function registryAnswers(): Promise<boolean> {
  try {
    const res = await fetch(`${SCHEMA_REGISTRY_URL}/subjects`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json' },
    });
    if (!res.ok) {
      await res.body?.cancel();
      return false;
    }
    return Array.isArray(await res.json());
  } catch {
    return false;
  }
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** True when pid is a live (not zombie) process. */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = readProc(pid, 'stat');
  if (stat === undefined) return true; // no procfs: trust kill(0)
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** The pid from PID_FILE if it is a live registry that we launched; stale pid files are removed. */
function runningPid(): number | undefined {
  if (!existsSync(PID_FILE)) return undefined;
  const pid = Number.parseInt(readFileSync(PID_FILE, 'utf8').trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) {
    rmSync(PID_FILE, { force: true });
    return undefined;
  }
  const cmdline = readProc(pid, 'cmdline');
  if (cmdline !== undefined && !cmdline.replaceAll('\0', ' ').includes(CMDLINE_MARKER)) {
    rmSync(PID_FILE, { force: true }); // the pid was recycled by an unrelated process
    return undefined;
  }
  return pid;
}

function logTail(lines: number): string {
  if (!existsSync(LOG_FILE)) return `(no log file at ${LOG_FILE})`;
  return readFileSync(LOG_FILE, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Starts java detached from this process (it outlives the CLI), stdout+stderr appended to LOG_FILE. */
function launch(): number {
  mkdirSync(RUN_DIR, { recursive: true });
  if (existsSync(LOG_FILE) && statSync(LOG_FILE).size > MAX_LOG_BYTES) {
    renameSync(LOG_FILE, `${LOG_FILE}.1`);
  }
  const args = jvmArgs();
  const logFd = openSync(LOG_FILE, 'a');
  try {
    writeFileSync(
      logFd,
      `\n===== ${new Date().toISOString()} starting schema-registry: ${javaBinary()} ${args.join(' ')}\n`,
    );
    const child = spawn(javaBinary(), args, {
      cwd: DIST_DIR,
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
    child.on('error', (err) => {
      writeFileSync(LOG_FILE, `spawn failed: ${err.message}\n`, { flag: 'a' });
    });
    child.unref();
    if (child.pid === undefined) {
      throw new Error(`schema-registry: could not launch ${javaBinary()} (see ${LOG_FILE})`);
    }
    writeFileSync(PID_FILE, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(logFd);
  }
}

async function waitUntilUp(pid: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (await registryAnswers()) return;
    if (!isProcessAlive(pid)) {
      rmSync(PID_FILE, { force: true });
      throw new Error(
        `schema-registry (pid ${pid}) exited during startup. Last lines of ${LOG_FILE}:\n${logTail(40)}`,
      );
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `schema-registry (pid ${pid}) did not answer GET ${SCHEMA_REGISTRY_URL}/subjects within ` +
          `${START_TIMEOUT_MS} ms. Last lines of ${LOG_FILE}:\n${logTail(40)}`,
      );
    }
    await sleep(250);
  }
}

/** Confluent's default global compatibility level; Apicurio starts with none. */
async function setBackwardCompatibility(): Promise<void> {
  const res = await fetch(`${SCHEMA_REGISTRY_URL}/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) {
    throw new Error(
      `schema-registry: PUT /config BACKWARD answered ${res.status}: ${await res.text()}`,
    );
  }
  await res.body?.cancel();
}

export const schemaRegistry: StackComponent = {
  name: 'schema-registry',
  endpoint: SCHEMA_REGISTRY_URL,
  logFile: LOG_FILE,

  async install(): Promise<void> {
    if (installed()) return;
    if (!onPath('mvn')) {
      throw new Error(
        'schema-registry: Maven (mvn) is needed to fetch Apicurio Registry; apt-get install -y maven',
      );
    }
    rmSync(DIST_DIR, { recursive: true, force: true }); // a partial unpack; its marker would skip a redo
    rmSync(join(BUILD_DIR, 'maven', 'markers'), { recursive: true, force: true });
    const args = ['-B', '-q', '-f', POM, `-Dregistry.build.dir=${BUILD_DIR}`, 'validate'];
    // Maven's output on our stderr: stdout may be a test runner's TAP stream.
    const result = spawnSync('mvn', args, { stdio: ['ignore', 2, 2] });
    if (result.error) throw new Error(`mvn ${args.join(' ')}: ${result.error.message}`);
    if (result.status !== 0)
      throw new Error(`mvn ${args.join(' ')} exited with ${result.status ?? result.signal}`);
    if (!existsSync(RUNNER_JAR))
      throw new Error(`schema-registry: Maven finished but ${RUNNER_JAR} is missing`);
    writeFileSync(DIST_COMPLETE, `${new Date().toISOString()}\n`);
  },

  isUp: registryAnswers,

  async start(): Promise<void> {
    if (await registryAnswers()) return; // ours from an earlier start, or someone else's
    let pid = runningPid(); // ours, still starting up
    if (pid === undefined) {
      await schemaRegistry.install();
      const java = javaFeatureVersion();
      if (java === undefined) {
        throw new Error(
          `schema-registry: cannot run ${javaBinary()} (install Java 17+ or set JAVA_HOME)`,
        );
      }
      if (java < 17) {
        throw new Error(
          `schema-registry: Apicurio Registry ${APICURIO_VERSION} needs Java 17+, found ${java}`,
        );
      }
      pid = launch();
    }
    await waitUntilUp(pid);
    await setBackwardCompatibility();
  },

  async stop(): Promise<void> {
    const pid = runningPid();
    if (pid === undefined) return;
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    while (isProcessAlive(pid) && Date.now() < deadline) await sleep(100);
    if (isProcessAlive(pid)) {
      signal(pid, 'SIGKILL');
      const killDeadline = Date.now() + 10_000;
      while (isProcessAlive(pid) && Date.now() < killDeadline) await sleep(50);
    }
    rmSync(PID_FILE, { force: true });
  },
};

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
