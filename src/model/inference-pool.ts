import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { backoffDelay } from '../batch/backoff.js';
import { InferenceError, ModelLoadError, RetriableError } from '../errors.js';
import type { FromThread, LoadRequest, ToThread } from './inference-protocol.js';
import type { PreparedRows, RowInput } from './row-input.js';

// Compiled, the thread is a .js file. Run from the TypeScript sources (tsx), it is a .ts file, and
// Node 20 does not hand module hooks to worker threads: a small bootstrap registers tsx first.
const THREAD_FILE = new URL(
  `./inference-thread${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);
const FROM_SOURCES = THREAD_FILE.pathname.endsWith('.ts');

function startThread(workerData: LoadRequest): Worker {
  if (!FROM_SOURCES) return new Worker(THREAD_FILE, { workerData });
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(THREAD_FILE.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

type Answer = Extract<FromThread, { id: number }>;

interface Job {
  id: number;
  /** Posts the job to a thread; what the thread gets is a copy, so the job can run again. */
  post: (worker: Worker, id: number) => void;
  /** The thread's answer, success or failure. */
  settle: (answer: Answer) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job?: Job;
}

/** Waits between tries to replace a dead thread: doubling from the first, up to the last. */
const RESPAWN_BACKOFF = { initialMs: 500, maxMs: 30_000 };

/** A prepared batch, and with `run` its output tensor, or why running it failed. */
export interface PreparedAnswer {
  prepared: PreparedRows;
  output?: Float32Array;
  runError?: string;
}

export interface InferenceStats {
  batchSize: number;
  elapsedMs: number;
}

/**
 * A fixed set of inference threads, each with its own session of one model version. Batches go
 * to the first idle thread; a thread that dies fails its batch as retriable and is replaced. A
 * replacement that fails to start is logged through `onThreadError` and tried again with
 * backoff; while no thread is left and the last try failed, batches fail at once with an
 * InferenceError that names the cause (a model fault for the policy), instead of queueing for
 * ever.
 */
export class InferencePool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextJobId = 0;
  private closed = false;
  /** Why the last replacement of a dead thread failed; cleared when one starts. */
  private respawnFailure: Error | undefined;
  private respawnAttempts = 0;
  provider = 'unknown';
  /** WebGPU: what can be behind its adapter (see execution-provider.ts). */
  adapter: string | undefined;

  private constructor(
    private readonly request: LoadRequest,
    private readonly onBatch: (stats: InferenceStats) => void,
    private readonly onThreadError: (error: Error) => void,
  ) {}

  /** Starts `threads` threads and resolves once every session is loaded, validated and warm. */
  static async start(
    request: LoadRequest,
    threads: number,
    onBatch: (stats: InferenceStats) => void = () => {},
    onThreadError: (error: Error) => void = () => {},
  ): Promise<InferencePool> {
    const pool = new InferencePool(request, onBatch, onThreadError);
    try {
      await Promise.all(Array.from({ length: threads }, () => pool.spawn()));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  /** Inference threads running now (a dead one is respawned). */
  get threads(): number {
    return this.slots.length;
  }

  /**
   * Runs `batchSize` rows (row-major in `rows`) and returns the output tensor's data. The thread
   * gets a copy, so the caller may run the same rows again (a retry, or halves of a failed batch).
   */
  run(rows: Float32Array, batchSize: number): Promise<Float32Array> {
    return this.submit(
      (worker, id) => {
        const copy = rows.slice();
        worker.postMessage(
          { type: 'run', id, rows: copy.buffer as ArrayBuffer, batchSize } satisfies ToThread,
          [copy.buffer as ArrayBuffer],
        );
      },
      (answer, resolve, reject) => {
        if (answer.type !== 'result') {
          reject(new InferenceError(answer.type === 'run-failed' ? answer.message : answer.type));
          return;
        }
        this.observe(batchSize, answer.elapsedMs);
        resolve(new Float32Array(answer.output));
      },
    );
  }

  /**
   * Decodes and featurizes a batch's values in a thread (row-preparation.ts); with `run`, the
   * same job runs the prepared rows too (one hop per batch), and a failed run comes back as
   * `runError` beside the rows. A failure of the preparation itself is not the rows' (those
   * come back as failures) but a bug: it rejects with a plain Error.
   */
  prepare(input: RowInput, run: boolean): Promise<PreparedAnswer> {
    return this.submit(
      (worker, id) => worker.postMessage({ type: 'prepare', id, input, run } satisfies ToThread),
      (answer, resolve, reject) => {
        if (answer.type !== 'prepared') {
          const why = answer.type === 'prepare-failed' ? answer.message : answer.type;
          reject(new Error(`preparing rows failed: ${why}`));
          return;
        }
        const { prepared, output, runError, elapsedMs } = answer;
        if (output) this.observe(prepared.count, elapsedMs ?? 0);
        resolve({
          prepared,
          ...(output ? { output: new Float32Array(output) } : {}),
          ...(runError !== undefined ? { runError } : {}),
        });
      },
    );
  }

  private observe(batchSize: number, elapsedMs: number): void {
    try {
      this.onBatch({ batchSize, elapsedMs });
    } catch {
      // an observer's failure costs a figure, never the batch
    }
  }

  private submit<T>(
    post: Job['post'],
    settle: (answer: Answer, resolve: (value: T) => void, reject: (error: Error) => void) => void,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new RetriableError('inference pool is closed'));
    if (this.slots.length === 0 && this.respawnFailure) {
      return Promise.reject(this.noThreadError());
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        id: this.nextJobId++,
        post,
        settle: (answer) => settle(answer, resolve, reject),
        reject,
      });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new RetriableError('inference pool closed'));
    await Promise.all(
      this.slots.splice(0).map(async (slot) => {
        slot.job?.reject(new RetriableError('inference pool closed'));
        slot.worker.postMessage({ type: 'close' } satisfies ToThread);
        const exited = new Promise((resolve) => slot.worker.once('exit', resolve));
        const timer = setTimeout(() => void slot.worker.terminate(), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  private spawn(): Promise<void> {
    const worker = startThread(this.request);
    const slot: Slot = { worker };
    return new Promise((resolve, reject) => {
      let loaded = false;
      worker.on('message', (message: FromThread) => {
        switch (message.type) {
          case 'loaded':
            loaded = true;
            this.provider = message.provider;
            this.adapter = message.adapter;
            this.slots.push(slot);
            resolve();
            this.dispatch();
            return;
          case 'load-failed':
            reject(new ModelLoadError(message.message));
            void worker.terminate();
            return;
          case 'result':
          case 'run-failed':
          case 'prepared':
          case 'prepare-failed':
            this.finish(slot, message);
        }
      });
      worker.on('error', (error) => {
        if (!loaded)
          reject(new ModelLoadError(`inference thread failed to start: ${error.message}`));
      });
      worker.on('exit', () => {
        const index = this.slots.indexOf(slot);
        if (index >= 0) this.slots.splice(index, 1);
        slot.job?.reject(new RetriableError('inference thread exited while running a batch'));
        slot.job = undefined;
        if (loaded && !this.closed) this.replace();
      });
    });
  }

  /** Starts a thread in place of one that died; a failure is retried with backoff. */
  private replace(): void {
    this.spawn().then(
      () => {
        this.respawnFailure = undefined;
        this.respawnAttempts = 0;
      },
      (error: unknown) => {
        const failure = error instanceof Error ? error : new Error(String(error));
        this.respawnFailure = failure;
        this.onThreadError(failure);
        if (this.slots.length === 0) {
          for (const job of this.queue.splice(0)) job.reject(this.noThreadError());
        }
        if (this.closed) return;
        const delay = backoffDelay(this.respawnAttempts++, RESPAWN_BACKOFF);
        setTimeout(() => {
          if (!this.closed) this.replace();
        }, delay).unref();
      },
    );
  }

  private noThreadError(): InferenceError {
    return new InferenceError(
      `no inference thread is running: replacing a dead one failed: ${this.respawnFailure?.message}`,
      { cause: this.respawnFailure },
    );
  }

  private finish(slot: Slot, message: Answer): void {
    const job = slot.job;
    slot.job = undefined;
    if (job && job.id === message.id) job.settle(message);
    this.dispatch();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job) continue;
      const job = this.queue.shift();
      if (!job) return;
      slot.job = job;
      job.post(slot.worker, job.id);
    }
  }
}
