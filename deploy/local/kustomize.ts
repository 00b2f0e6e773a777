/**
 * kustomize, for the manifest tests (`kustomize build` renders what `kubectl apply -k` applies):
 * built from the Go module proxy into Go's bin directory when it is not on PATH.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { onPath } from './daemon.js';

export const KUSTOMIZE_MODULE = 'sigs.k8s.io/kustomize/kustomize/v5@v5.7.1';

export function ensureKustomize(): 'present' | 'installed' {
  if (onPath('kustomize')) return 'present';
  if (!onPath('go'))
    throw new Error(`kustomize: not on PATH, and no Go to build ${KUSTOMIZE_MODULE}`);
  const gopath = execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim();
  execFileSync('go', ['install', KUSTOMIZE_MODULE], {
    stdio: ['ignore', process.stderr, 'inherit'], // stdout may be a test runner's TAP stream
    env: { ...process.env, GOBIN: join(gopath, 'bin') },
  });
  if (!onPath('kustomize')) {
    throw new Error(`kustomize: built into ${join(gopath, 'bin')}, which is not on PATH`);
  }
  return 'installed';
}
