import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import { AggregatorRegistry, type PrometheusContentType, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config/worker-config.js';
import { startHealthServer } from '../observability/health-server.js';

/** What a worker process tells its supervisor about itself, every STATUS_INTERVAL_MS. */
interface WorkerStatus {
  type: 'inference-worker-status';
  live: boolean;
  ready: boolean;
}

/** Worker process → supervisor: loaded and warm, waiting to join the group. */
const LOADED = 'inference-worker-loaded';
/** Supervisor → every worker process, once all are loaded: join now. */
const JOIN = 'inference-worker-join';

const STATUS_INTERVAL_MS = 1_000;
/** A worker whose status is older than this does not count as ready. */
const READY_STATUS_MAX_AGE_MS = 5_000;

/**
 * processes > 1: this process supervises that many worker processes (node:cluster), each a full
 * consumer-group member with its own Kafka clients, model and batches, so that every core runs a
 * main thread (librdkafka's binding cannot run in worker_threads: it crashes there). The
 * supervisor serves /metrics (the workers' own, aggregated by prom-client's AggregatorRegistry),
 * /readyz (every worker ready) and /healthz (every worker live and heard from), and forwards
 * SIGTERM, SIGINT and SIGHUP. A worker that exits on its own takes the others down, and its exit
 * code becomes the supervisor's: whoever restarts the pod restarts the whole, never half of it.
 */
export async function superviseWorkerProcesses(
  config: WorkerConfig,
  count: number,
  logger: Logger,
): Promise<number> {
  const statuses = new Map<number, WorkerStatus & { at: number }>();
  const workers: Worker[] = [];
  let stopping = false;
  let exitCode = 0;

  const signalAll = (signal: NodeJS.Signals): void => {
    for (const worker of workers) if (!worker.isDead()) worker.process.kill(signal);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping the worker processes');
    stopping = true;
    signalAll('SIGTERM');
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => signalAll('SIGHUP'));

  // The probes first: a port in use stops start-up before any worker process exists.
  let server: Server | undefined;
  const { host, port, maxEventLoopBlockMs } = config.observability;
  if (port > 0) {
    const fresh = (maxAgeMs: number) => (status: { at: number }) =>
      Date.now() - status.at <= maxAgeMs;
    server = await startHealthServer(host, port, metricsOfAll(), {
      live: () =>
        !stopping &&
        [...statuses.values()].every((status) => status.live && fresh(maxEventLoopBlockMs)(status)),
      ready: () =>
        !stopping &&
        statuses.size === count &&
        [...statuses.values()].every(
          (status) => status.ready && fresh(READY_STATUS_MAX_AGE_MS)(status),
        ),
    });
  }
  // They join the group together, once every one has its model warm: one rebalance at start,
  // not one per arrival with in-flight work revoked and redone each time.
  let loaded = 0;
  const exited = Array.from({ length: count }, (_, index) => {
    const worker = cluster.fork({ KAFKA_INFER_WORKER_PROCESS: String(index + 1) });
    workers.push(worker);
    worker.on('message', (message: WorkerStatus | { type: typeof LOADED }) => {
      if (message?.type === 'inference-worker-status') {
        statuses.set(worker.id, { ...message, at: Date.now() });
      } else if (message?.type === LOADED && ++loaded === count) {
        for (const each of workers) if (each.isConnected()) each.send({ type: JOIN });
      }
    });
    return new Promise<void>((resolve) =>
      worker.on('exit', (code, signal) => {
        statuses.delete(worker.id);
        // A process still starting when the supervisor forwarded SIGTERM may die of the signal
        // itself, before its handler exists: that is the stop asked for, not a failure.
        const stoppedAsAsked = stopping && signal === 'SIGTERM';
        if ((code !== 0 || signal !== null) && !stoppedAsAsked) {
          exitCode = Math.max(exitCode, code || 1);
        }
        if (!stopping) {
          logger.error(
            { process: index + 1, pid: worker.process.pid, code, signal },
            'a worker process exited on its own; stopping the others',
          );
          stopping = true;
          signalAll('SIGTERM');
        }
        resolve();
      }),
    );
  });

  logger.info({ processes: count, pid: process.pid }, 'worker processes started');
  try {
    await Promise.all(exited);
  } finally {
    server?.close();
  }
  return exitCode;
}

/** The supervisor's /metrics: each scrape asks every worker process for its registry. */
function metricsOfAll(): AggregatorRegistry<PrometheusContentType> {
  const registry = new AggregatorRegistry<PrometheusContentType>();
  // The health server calls metrics(); here that is the cluster-wide aggregate.
  registry.metrics = () => registry.clusterMetrics();
  return registry;
}

/**
 * In a worker process: report liveness and readiness to the supervisor, and answer its metric
 * requests from `registry`. Returns a function that stops the reports.
 */
export function reportToSupervisor(
  registry: Registry,
  probe: { live(): boolean; ready(): boolean },
): () => void {
  new AggregatorRegistry(); // its constructor installs the listener that answers the supervisor
  AggregatorRegistry.setRegistries([registry]);
  const report = () => {
    const status: WorkerStatus = {
      type: 'inference-worker-status',
      live: probe.live(),
      ready: probe.ready(),
    };
    if (process.connected) process.send?.(status);
  };
  report();
  const timer = setInterval(report, STATUS_INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    report();
  };
}

/**
 * In a worker process: tell the supervisor it is loaded, and resolve true when all may join. A
 * stop before that (SIGTERM during warm-up, or another process failed to start) resolves false,
 * so that this one leaves without joining, as a stop, not a failure.
 */
export function joinWithTheOthers(): Promise<boolean> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('message', onMessage);
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
    };
    const onMessage = (message: { type?: string }) => {
      if (message?.type !== JOIN) return;
      done();
      resolve(true);
    };
    const onStop = () => {
      done();
      resolve(false);
    };
    process.on('message', onMessage);
    process.once('SIGTERM', onStop);
    process.once('SIGINT', onStop);
    process.send?.({ type: LOADED });
  });
}

/** The 1-based index of this worker process, when the supervisor started it. */
export function workerProcessIndex(): number | undefined {
  return cluster.isWorker ? Number(process.env.KAFKA_INFER_WORKER_PROCESS) : undefined;
}
