/**
 * Prometheus for the tests that prove the dashboard and the alert rules against the worker's
 * real metrics: Debian's `prometheus` package (the server and promtool), installed on demand.
 * The test starts its own server on loopback with a scrape config of its own; nothing here runs
 * as part of the stack.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall, onPath } from './daemon.js';

/** Installs Debian's prometheus (prometheus and promtool) when either is missing. */
export function ensurePrometheus(): string {
  if (onPath('prometheus') && onPath('promtool')) return 'present';
  aptInstall('prometheus', ['prometheus']);
  return 'installed';
}

export interface RunningPrometheus {
  url: string;
  /** Instant query; the result vector. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Metric names Prometheus holds. */
  names(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Starts a Prometheus on 127.0.0.1:`port` that scrapes `targets` every second and evaluates
 * `ruleFiles`; its data lives in a temporary directory.
 */
export async function startPrometheus(options: {
  port: number;
  targets: string[];
  ruleFiles?: string[];
}): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      ...(options.ruleFiles?.length
        ? ['rule_files:', ...options.ruleFiles.map((file) => `  - ${JSON.stringify(file)}`)]
        : []),
      'scrape_configs:',
      '  - job_name: kafka-inference-worker',
      '    static_configs:',
      `      - targets: ${JSON.stringify(options.targets)}`,
      '',
    ].join('\n'),
  );
  const url = `http://127.0.0.1:${options.port}`;
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${options.port}`,
      '--web.enable-lifecycle',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error}`);
    return body.data;
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited:\n${output.slice(-2000)}`);
    const ready = await fetch(`${url}/-/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`prometheus not ready:\n${output.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    query: async (promql) =>
      (
        await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
          `/api/v1/query?query=${encodeURIComponent(promql)}`,
        )
      ).result,
    names: () => api<string[]>('/api/v1/label/__name__/values'),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
