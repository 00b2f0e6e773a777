import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STACK_DIR } from '../../deploy/local/component.js';

const VENV = join(STACK_DIR, 'python-peers');
const REQUIREMENTS = new URL('../peers/requirements.txt', import.meta.url).pathname;
const MARKER = join(VENV, '.installed');

/**
 * A Python virtual environment with the peer clients of test/peers/requirements.txt (Confluent's
 * confluent-kafka), created on first use under .stack/. Returns its python executable.
 */
export function pythonPeer(): string {
  const python = join(VENV, 'bin', 'python');
  // The marker holds the requirements it was installed from, so a changed file reinstalls.
  const wanted = readFileSync(REQUIREMENTS, 'utf8');
  if (!existsSync(MARKER) || readFileSync(MARKER, 'utf8') !== wanted) {
    if (!existsSync(python)) {
      execFileSync('python3', ['-m', 'venv', VENV], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
    execFileSync(python, ['-m', 'pip', 'install', '-q', '-r', REQUIREMENTS], {
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 300_000,
    });
    writeFileSync(MARKER, wanted);
  }
  return python;
}

/** Runs a test/peers/ script with the peer environment and returns its stdout. */
export function runPythonPeer(script: string, args: string[], timeoutMs: number): string {
  return execFileSync(
    pythonPeer(),
    [new URL(`../peers/${script}`, import.meta.url).pathname, ...args],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
}
