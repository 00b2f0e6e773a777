/**
 * Background processes of the local stack: launch detached with a pid file and a log file,
 * find out whether the pid file still names a live process we launched, stop it
 * (SIGTERM, then SIGKILL after a deadline), and read the log's tail for error messages.
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
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DaemonSpec {
  /** Used in error messages. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly pidFile: string;
  readonly logFile: string;
  /** A string the process's command line must contain, so a recycled pid is not mistaken for ours. */
  readonly cmdlineMarker: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Written to the log before each launch, so errors of earlier runs can be told apart. */
const LAUNCH_MARKER = '\n===== ';
/** Java log4j levels, and the wording redis-server uses for fatal problems. */
const ERROR_LINE = /\b(ERROR|FATAL)\b|# (Failed|Could not|Fatal)|^Exception in thread/;

/** A log bigger than this is moved to `<log>.1` at the next launch. */
const MAX_LOG_BYTES = 20 * 1024 * 1024;

/** Launches the process detached from this one (it outlives the CLI), stdout+stderr appended to logFile. */
export function launchDaemon(spec: DaemonSpec): number {
  mkdirSync(dirname(spec.pidFile), { recursive: true });
  mkdirSync(dirname(spec.logFile), { recursive: true });
  if (existsSync(spec.logFile) && statSync(spec.logFile).size > MAX_LOG_BYTES) {
    renameSync(spec.logFile, `${spec.logFile}.1`);
  }
  const logFd = openSync(spec.logFile, 'a');
  try {
    writeFileSync(
      logFd,
      `${LAUNCH_MARKER}${new Date().toISOString()} starting ${spec.name}: ${spec.command} ${spec.args.join(' ')}\n`,
    );
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
    // Without a listener a spawn failure (ENOENT) would be an uncaught exception.
    child.on('error', (err) => {
      writeFileSync(spec.logFile, `spawn failed: ${err.message}\n`, { flag: 'a' });
    });
    child.unref();
    if (child.pid === undefined) {
      throw new Error(`${spec.name}: could not launch ${spec.command} (see ${spec.logFile})`);
    }
    writeFileSync(spec.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(logFd);
  }
}

/** True when pid is a live (not zombie) process. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = readProc(pid, 'stat');
  if (stat === undefined) return true; // no procfs: trust kill(0)
  // "pid (comm) S ..." -- comm may contain spaces and parentheses, the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** The live process named by pidFile if it is one we launched, else undefined (stale files are removed). */
export function runningPid(pidFile: string, cmdlineMarker: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) {
    rmSync(pidFile, { force: true });
    return undefined;
  }
  const cmdline = readProc(pid, 'cmdline');
  if (cmdline !== undefined && !cmdline.replaceAll('\0', ' ').includes(cmdlineMarker)) {
    rmSync(pidFile, { force: true }); // the pid was recycled by an unrelated process
    return undefined;
  }
  return pid;
}

/**
 * Stops the process named by pidFile: SIGTERM, wait up to graceMs, then SIGKILL.
 * Returns false when there was nothing of ours to stop.
 */
export async function stopDaemon(
  pidFile: string,
  cmdlineMarker: string,
  graceMs: number,
): Promise<boolean> {
  const pid = runningPid(pidFile, cmdlineMarker);
  if (pid === undefined) return false;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isProcessAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isProcessAlive(pid)) {
    signal(pid, 'SIGKILL');
    const killDeadline = Date.now() + 10_000;
    while (isProcessAlive(pid) && Date.now() < killDeadline) await sleep(50);
  }
  rmSync(pidFile, { force: true });
  return true;
}

/**
 * Polls `ready` until it is true. Fails early when `alive` turns false (the process died),
 * and at the deadline; both errors carry the log tail.
 */
export async function waitUntilReady(opts: {
  name: string;
  ready: () => Promise<boolean>;
  alive: () => boolean;
  timeoutMs: number;
  logFile: string;
  intervalMs?: number;
}): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await opts.ready()) return;
    if (!opts.alive()) {
      throw new Error(`${opts.name} exited during startup. ${startupReport(opts.logFile)}`);
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `${opts.name} did not become ready within ${opts.timeoutMs} ms. ${startupReport(opts.logFile)}`,
      );
    }
    await sleep(opts.intervalMs ?? 250);
  }
}

/**
 * Runs `fn` while holding an exclusive lock file, so two processes starting the stack at once
 * (a CLI and a test's ensureStackUp) do not both format storage and launch. A lock whose holder
 * died is taken over. `fn` should re-check whether the service is up: the previous holder may
 * have started it.
 */
export async function withStartLock<T>(
  lockFile: string,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  mkdirSync(dirname(lockFile), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lockFile, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (fd !== undefined) {
      try {
        writeFileSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return await fn();
      } finally {
        rmSync(lockFile, { force: true });
      }
    }
    const holder = Number.parseInt(readFileOr(lockFile, '').trim(), 10);
    const holderDied = Number.isInteger(holder) && holder > 0 && !isProcessAlive(holder);
    if (holderDied || lockAgeMs(lockFile) > STALE_LOCK_MS) {
      rmSync(lockFile, { force: true }); // its holder died, or its pid was recycled
      continue;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out waiting for ${lockFile}, held by pid ${holder}`);
    }
    await sleep(200);
  }
}

/** No start takes this long; an older lock is left over from a holder whose pid was reused. */
const STALE_LOCK_MS = 10 * 60_000;

function lockAgeMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function readFileOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** Error lines of the latest launch (the root cause tends to scroll out of the tail), then the tail. */
function startupReport(logFile: string): string {
  const errors = launchErrors(logFile, 12);
  const errorPart = errors.length > 0 ? `Errors it logged:\n${errors.join('\n')}\n` : '';
  return `${errorPart}Last lines of ${logFile}:\n${logTail(logFile, 25)}`;
}

/** Lines that look like errors since the last launch marker, each with its following message line. */
export function launchErrors(file: string, max: number): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const lines = text.slice(text.lastIndexOf(LAUNCH_MARKER) + 1).split('\n');
  const found: string[] = [];
  lines.forEach((line, i) => {
    if (found.length >= max || !ERROR_LINE.test(line)) return;
    found.push(line);
    const next = lines[i + 1];
    // Java puts the exception message on the line after the log line; skip stack frames.
    if (next !== undefined && /^\S/.test(next) && !next.startsWith('[')) found.push(`  ${next}`);
  });
  return found;
}

/** The last `lines` lines of a file ('' when it does not exist). */
export function logTail(file: string, lines: number): string {
  if (!existsSync(file)) return `(no log file at ${file})`;
  const text = readFileSync(file, 'utf8');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** True when `command` is on PATH. */
/** Installs Debian packages with apt-get (via sudo when we are not root); `who` names the caller. */
export function aptInstall(who: string, packages: readonly string[]): void {
  if (!onPath('apt-get')) {
    throw new Error(
      `${who}: ${packages.join(' ')} missing and there is no apt-get to install them`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]): void => {
    if (process.getuid?.() === 0) runOrThrow('apt-get', args, env);
    else if (onPath('sudo'))
      runOrThrow('sudo', ['-n', '--preserve-env=DEBIAN_FRONTEND', 'apt-get', ...args], env);
    else throw new Error(`${who}: apt-get needs root (no sudo found) for ${packages.join(' ')}`);
  };
  apt(['update']);
  apt(['install', '-y', '--no-install-recommends', ...packages]);
}

export function onPath(command: string): boolean {
  // Passed as $1, not spliced into the script: a JAVA_HOME with spaces or quotes stays one word.
  return (
    spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0
  );
}

/**
 * Runs a command to completion, its output on our stderr (stdout may be a test runner's TAP stream);
 * throws with the exit status on failure.
 */
export function runOrThrow(
  command: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
): void {
  const result = spawnSync(command, [...args], {
    stdio: ['ignore', 2, 2],
    env: env ?? process.env,
  });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
  }
}

/** Runs a command to completion and returns its stdout+stderr; throws with that output on failure. */
export function runCapture(command: string, args: readonly string[]): string {
  const result = spawnSync(command, [...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.status ?? result.signal}:\n${output.trimEnd()}`,
    );
  }
  return output;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}
