/**
 * The local development stack without Docker: Kafka, Redis and the schema registry.
 *
 *   npx tsx deploy/local/stack.ts up|down|status|logs|install [component...]
 *   (or: npm run stack -- up)
 *
 * Tests import ensureStackUp() instead of shelling out.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { STACK_DIR, type StackComponent } from './component.js';
import { logTail, withStartLock } from './daemon.js';
import { kafka } from './kafka.js';
import { ensureLibrdkafka } from './librdkafka.js';
import { ensureKustomize } from './kustomize.js';
import { ensurePrometheus } from './prometheus.js';
import { ensureSoftwareVulkan } from './vulkan.js';
import { redis } from './redis.js';
import { schemaRegistry } from './registry.js';

/** In start order. */
export const COMPONENTS: readonly StackComponent[] = [redis, kafka, schemaRegistry];

const USAGE = `usage: stack.ts <command> [component...]
  up      install what is missing and start every component that is not already up
  down    stop what the stack started (a service someone else started is left running)
  status  print up/down per component; exits 3 when any is down
  logs    print the last lines of each component's log (STACK_LOG_LINES=n, default 40)
  install only install what is missing (jars, packages), start nothing; for CI caches
components: ${COMPONENTS.map((c) => c.name).join(', ')} (default: all)`;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Installs and starts one component unless it already answers; returns whether it had to start it.
 * A lock per component serializes concurrent callers (two test files, a CLI and a test): the
 * later one waits, finds it up, and does not launch a second copy that dies on the busy port.
 */
async function bringUp(component: StackComponent): Promise<boolean> {
  if (await component.isUp()) return false;
  const lock = join(STACK_DIR, 'locks', `${component.name}.lock`);
  return withStartLock(lock, 10 * 60_000, async () => {
    if (await component.isUp()) return false;
    await component.install();
    await component.start();
    if (!(await component.isUp())) {
      throw new Error(`${component.name} started but does not answer at ${component.endpoint}`);
    }
    return true;
  });
}

let stackUp: Promise<void> | undefined;

/**
 * Starts every stack component that is not already up (installing what is missing), once per
 * process. For integration tests: `before(async () => { await ensureStackUp(); })`.
 * Progress goes to stderr, so it never mixes with a test runner's stdout.
 */
export function ensureStackUp(): Promise<void> {
  stackUp ??= (async () => {
    ensureLibrdkafka();
    for (const component of COMPONENTS) {
      const started = Date.now();
      if (await bringUp(component)) {
        process.stderr.write(
          `stack: started ${component.name} at ${component.endpoint} in ${seconds(Date.now() - started)}\n`,
        );
      }
    }
  })();
  // A failed attempt is not cached, so a later call tries again.
  stackUp.catch(() => {
    stackUp = undefined;
  });
  return stackUp;
}

function select(names: readonly string[]): StackComponent[] {
  if (names.length === 0) return [...COMPONENTS];
  return names.map((name) => {
    const component = COMPONENTS.find((c) => c.name === name);
    if (!component) throw new UsageError(`unknown component "${name}"`);
    return component;
  });
}

class UsageError extends Error {}

/**
 * What this machine needs beside the services: the native module of the worker's default Kafka
 * transport (required), and for the tests Prometheus with promtool and a software Vulkan driver
 * (the worker itself needs neither, so their absence only warns). Returns 1 when a required one
 * is missing.
 */
function hostPrerequisites(): number {
  const librdkafka = hostStep('librdkafka', 'node module', ensureLibrdkafka);
  if (librdkafka !== undefined) {
    console.error(`stack: ${librdkafka}`);
    return 1;
  }
  const prometheus = hostStep('prometheus', "Debian's, with promtool (tests)", ensurePrometheus);
  if (prometheus !== undefined) {
    console.error(`stack: no Prometheus, the monitoring tests will fail: ${prometheus}`);
  }
  const vulkan = hostStep('vulkan', 'Mesa lavapipe (software, for webgpu)', ensureSoftwareVulkan);
  if (vulkan !== undefined) {
    console.error(`stack: no software Vulkan driver, the webgpu tests will fail: ${vulkan}`);
  }
  return 0;
}

/** Runs one set-up step and prints its status line; returns its error message, if it failed. */
function hostStep(name: string, detail: string, ensure: () => string): string | undefined {
  const started = Date.now();
  try {
    const state = ensure();
    console.log(
      `${name.padEnd(16)} ${state.padEnd(10)} ${detail.padEnd(38)} ${seconds(Date.now() - started)}`,
    );
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

async function up(components: StackComponent[]): Promise<number> {
  const total = Date.now();
  if (hostPrerequisites() !== 0) return 1;
  for (const component of components) {
    const started = Date.now();
    try {
      const launched = await bringUp(component);
      const verb = launched ? 'started' : 'already up';
      console.log(
        `${component.name.padEnd(16)} ${verb.padEnd(10)} ${component.endpoint.padEnd(38)} ${seconds(Date.now() - started)}`,
      );
    } catch (err) {
      console.error(`\nstack up: ${component.name} failed after ${seconds(Date.now() - started)}:`);
      console.error(err instanceof Error ? err.message : String(err));
      if (component.logFile) console.error(`(full log: ${component.logFile})`);
      return 1;
    }
  }
  console.log(`stack up in ${seconds(Date.now() - total)}`);
  return 0;
}

async function down(components: StackComponent[]): Promise<number> {
  let failed = 0;
  for (const component of [...components].reverse()) {
    const started = Date.now();
    try {
      await component.stop();
      const state = (await component.isUp())
        ? 'still up (not started by this stack, left running)'
        : 'down';
      console.log(`${component.name.padEnd(16)} ${state} ${seconds(Date.now() - started)}`);
    } catch (err) {
      failed += 1;
      console.error(
        `stack down: ${component.name}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  return failed === 0 ? 0 : 1;
}

async function status(components: StackComponent[]): Promise<number> {
  const states = await Promise.all(components.map((c) => c.isUp()));
  components.forEach((c, i) => {
    console.log(`${c.name.padEnd(16)} ${(states[i] ? 'up' : 'down').padEnd(6)} ${c.endpoint}`);
  });
  return states.every(Boolean) ? 0 : 3;
}

async function install(components: StackComponent[]): Promise<number> {
  if (hostPrerequisites() !== 0) return 1;
  // Only the manifest tests use it (they build it themselves when missing), so `up` skips it.
  const kustomize = hostStep('kustomize', 'Go module proxy (manifest tests)', ensureKustomize);
  if (kustomize !== undefined) {
    console.error(`stack: no kustomize, the manifest tests will fail: ${kustomize}`);
  }
  for (const component of components) {
    const started = Date.now();
    try {
      await component.install();
      console.log(`${component.name.padEnd(16)} installed  ${seconds(Date.now() - started)}`);
    } catch (err) {
      console.error(
        `stack install: ${component.name}: ${err instanceof Error ? err.message : String(err)}`,
      );
      return 1;
    }
  }
  return 0;
}

function logs(components: StackComponent[]): number {
  const lines = Number.parseInt(process.env.STACK_LOG_LINES ?? '40', 10) || 40;
  for (const component of components) {
    console.log(`==> ${component.name}: ${component.logFile ?? '(no log file)'} <==`);
    if (component.logFile) console.log(logTail(component.logFile, lines));
    console.log('');
  }
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...names] = argv;
  try {
    switch (command) {
      case 'up':
        return await up(select(names));
      case 'down':
        return await down(select(names));
      case 'status':
        return await status(select(names));
      case 'logs':
        return logs(select(names));
      case 'install':
        return await install(select(names));
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`stack: ${err.message}\n${USAGE}`);
      return 2;
    }
    console.error(`stack ${command}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // Set exitCode rather than exit(): let kafkajs sockets close; nothing here keeps the loop alive.
  process.exitCode = await main(process.argv.slice(2));
}
