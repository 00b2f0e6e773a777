import cluster from 'node:cluster';
import type { Server } from 'node:http';
import { secretsOf } from '../config/config-secrets.js';
import { loadConfig } from '../config/load-config.js';
import { workerProcessCount, type WorkerConfig } from '../config/worker-config.js';
import { errorMessage } from '../errors.js';
import { startHealthServer } from '../observability/health-server.js';
import { createLogger } from '../observability/logger.js';
import { WorkerMetrics } from '../observability/metrics.js';
import { InferenceWorker } from '../pipeline/inference-worker.js';
import {
  joinWithTheOthers,
  reportToSupervisor,
  superviseWorkerProcesses,
  workerProcessIndex,
} from './worker-processes.js';

/**
 * `kafka-infer worker --config FILE`: validate config, load the model, join the group, serve
 * until SIGTERM/SIGINT, then drain, commit and exit 0. A second signal is ignored (draining).
 * SIGHUP swaps in a newer model version without stopping.
 */
export async function runWorker(configPath: string | undefined): Promise<number> {
  const loaded = loadConfig(configPath);
  const baseLogger = createLogger(loaded.observability.logLevel, undefined, secretsOf(loaded));
  const processes = workerProcessCount(loaded.processes);
  if (cluster.isPrimary && processes > 1) {
    return superviseWorkerProcesses(loaded, processes, baseLogger);
  }
  const index = workerProcessIndex();
  const config = index === undefined ? loaded : asWorkerProcess(loaded, index);
  const logger = index === undefined ? baseLogger : baseLogger.child({ process: index });
  const metrics = new WorkerMetrics();
  const worker = new InferenceWorker(config, metrics, logger, {
    ...(index !== undefined ? { beforeJoin: joinWithTheOthers } : {}),
  });
  let server: Server | undefined;

  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'stopping: draining in-flight work');
    void worker.stop();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // Every promise has an owner; what escapes anyway is a bug, and fatal (error-policy.ts): stop
  // intake, commit what is acknowledged, exit 1 within the shutdown deadline.
  const escaped = (error: unknown): void => {
    logger.fatal(
      { err: errorMessage(error), stack: error instanceof Error ? error.stack : undefined },
      'bug: an error escaped to the process; stopping',
    );
    worker.fail(error);
    setTimeout(() => process.exit(1), config.shutdown.deadlineMs + 1_000).unref();
  };
  // Node's own warnings become log lines, so that stderr stays JSON. kafkajs schedules a negative
  // timer on Node 24 (tulios/kafkajs#1751): harmless, so only at debug.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    const level = warning.name === 'TimeoutNegativeWarning' ? 'debug' : 'warn';
    logger[level]({ warning: warning.name, detail: warning.message }, 'node warning');
  });
  process.on('uncaughtException', escaped);
  process.on('unhandledRejection', escaped);
  // SIGHUP: look for a newer model version now, load and warm it, swap it in.
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading the model');
    void worker.reloadModel();
  });

  const probe = { live: () => worker.live, ready: () => worker.ready };
  let stopReports: (() => void) | undefined;
  try {
    if (index !== undefined) {
      stopReports = reportToSupervisor(metrics.registry, probe);
    } else if (config.observability.port > 0) {
      const { host, port } = config.observability;
      server = await startHealthServer(host, port, metrics.registry, probe);
    }
    await worker.start();
    logger.info({ groupId: config.kafka.groupId, pid: process.pid }, 'worker running');
    await worker.stopped;
    // A fatal failure reaches main, which prints its cause and exits 78 or 1 (error-policy.ts).
    if (worker.failure) throw worker.failure;
    return 0;
  } catch (error) {
    if (error !== worker.failure) logger.fatal({ err: errorMessage(error) }, 'worker failed');
    await worker.stop().catch(() => undefined);
    throw error;
  } finally {
    stopReports?.();
    server?.close();
  }
}

/**
 * One of several worker processes: the same group, its own static member id (group.instance.id
 * must be unique per member), client id and transactional id.
 */
function asWorkerProcess(config: WorkerConfig, index: number): WorkerConfig {
  const { groupInstanceId, clientId } = config.kafka;
  const { transactionalId } = config.delivery;
  return {
    ...config,
    kafka: {
      ...config.kafka,
      clientId: `${clientId}-${index}`,
      ...(groupInstanceId ? { groupInstanceId: `${groupInstanceId}-${index}` } : {}),
    },
    delivery: {
      ...config.delivery,
      ...(transactionalId ? { transactionalId: `${transactionalId}-${index}` } : {}),
    },
  };
}
