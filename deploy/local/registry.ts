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
 * Only node built-ins here (and in daemon.ts), on purpose: this must work before anything else is
 * installed.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STACK_DIR, type StackComponent } from './component.js';
import {
  isProcessAlive,
  launchDaemon,
  onPath,
  runCapture,
  runningPid,
  runOrThrow,
  stopDaemon,
  waitUntilReady,
  withStartLock,
} from './daemon.js';

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
const START_LOCK = join(RUN_DIR, 'start.lock');
const LOG_FILE = join(RUN_DIR, 'registry.log');
/** Our registry's command line contains this; an unrelated process reusing the pid does not. */
const CMDLINE_MARKER = `-Dquarkus.http.port=${PORT} -jar ${RUNNER_JAR}`;

const START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 20_000;
const PROBE_TIMEOUT_MS = 2_000;

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

/** Java's feature version (17 for "17.0.15"), or undefined when java does not run. */
function javaFeatureVersion(): number | undefined {
  let output: string;
  try {
    output = runCapture(javaBinary(), ['-version']);
  } catch {
    return undefined;
  }
  const match = /version "(?:1\.)?(\d+)/.exec(output);
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
    runOrThrow('mvn', args); // Maven's output on our stderr, not a test runner's stdout
    if (!existsSync(RUNNER_JAR))
      throw new Error(`schema-registry: Maven finished but ${RUNNER_JAR} is missing`);
    writeFileSync(DIST_COMPLETE, `${new Date().toISOString()}\n`);
  },

  isUp: registryAnswers,

  async start(): Promise<void> {
    if (await registryAnswers()) return; // ours from an earlier start, or someone else's
    await withStartLock(START_LOCK, START_TIMEOUT_MS * 2, async () => {
      if (await registryAnswers()) return; // another process started it while we waited
      let pid = runningPid(PID_FILE, CMDLINE_MARKER); // ours, still starting up
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
        pid = launchDaemon({
          name: 'schema-registry',
          command: javaBinary(),
          args: jvmArgs(),
          pidFile: PID_FILE,
          logFile: LOG_FILE,
          cmdlineMarker: CMDLINE_MARKER,
          cwd: DIST_DIR,
        });
      }
      const launched = pid;
      await waitUntilReady({
        name: `schema-registry (pid ${launched}, GET ${SCHEMA_REGISTRY_URL}/subjects)`,
        ready: registryAnswers,
        alive: () => isProcessAlive(launched),
        timeoutMs: START_TIMEOUT_MS,
        logFile: LOG_FILE,
      });
      await setBackwardCompatibility();
    });
  },

  async stop(): Promise<void> {
    // Only the process our pid file names (checked against CMDLINE_MARKER): never someone else's.
    await stopDaemon(PID_FILE, CMDLINE_MARKER, STOP_GRACE_MS);
  },
};
