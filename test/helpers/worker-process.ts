import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The compiled worker (`node dist/cli/main.js worker`) as a real child process, so that tests can
 * SIGKILL it, SIGTERM it and measure its RSS. Its pino output is kept for assertions.
 */
export class WorkerProcess {
  readonly exited: Promise<ExitStatus>;
  output = '';

  private constructor(
    readonly child: ChildProcess,
    readonly metricsPort: number,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  /** Writes `config` (metrics port filled in) to a temp file and starts a worker on it. */
  static async start(
    config: Record<string, unknown>,
    env: NodeJS.ProcessEnv = {},
    nodeArgs: string[] = [],
  ): Promise<WorkerProcess> {
    const metricsPort = await freePort();
    const file = join(mkdtempSync(join(tmpdir(), 'worker-')), 'config.json');
    const observability = {
      logLevel: 'info',
      ...(config.observability as object),
      port: metricsPort,
    };
    writeFileSync(file, JSON.stringify({ ...config, observability }));
    // The flag the bin's shebang and the image pass (src/cli/main.ts).
    const child = spawn(
      process.execPath,
      ['--max-semi-space-size=16', ...nodeArgs, CLI, 'worker', '--config', file],
      {
        env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return new WorkerProcess(child, metricsPort);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The HTTP status the worker answers on `path` (/readyz, /healthz, ...). */
  async status(path: string): Promise<number> {
    return (await fetch(`http://127.0.0.1:${this.metricsPort}${path}`)).status;
  }

  /** Waits for /readyz: model loaded and group joined. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    await waitFor(
      async () => {
        if (exited) throw new Error(`worker exited before ready:\n${this.output.slice(-3000)}`);
        return (await this.status('/readyz')) === 200;
      },
      {
        timeoutMs,
        intervalMs: 100,
        message: () => `worker ready; output:\n${this.output.slice(-3000)}`,
      },
    );
  }

  /** The value of one Prometheus series, e.g. metric("inference_group_joins_total"). */
  async metric(name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
        sum += Number(line.split(' ').at(-1));
    }
    return sum;
  }

  /** Resident set size in bytes, read from /proc. */
  rssBytes(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return Number(kb) * 1024;
  }

  async kill(signal: NodeJS.Signals): Promise<ExitStatus> {
    this.child.kill(signal);
    return this.exited;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Pino lines of a worker's output (WorkerProcess.output), parsed; non-JSON lines skipped. */
export function logLines(
  output: string,
): { msg?: string; time?: number; [key: string]: unknown }[] {
  return output.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as { msg?: string; time?: number }];
    } catch {
      return [];
    }
  });
}
