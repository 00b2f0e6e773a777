import type { Server } from 'node:http';
import { secretsOf } from '../config/config-secrets.js';
import { loadConfig } from '../config/load-config.js';
import { errorMessage } from '../errors.js';
import { startHealthServer } from '../observability/health-server.js';
import { createLogger } from '../observability/logger.js';
import { WorkerMetrics } from '../observability/metrics.js';
import { InferenceWorker } from '../pipeline/inference-worker.js';

/**
 * `kafka-infer worker --config FILE`: validate config, load the model, join the group, serve
 * until SIGTERM/SIGINT, then drain, commit and exit 0. A second signal is ignored (draining).
 * SIGHUP swaps in a newer model version without stopping.
 */
export async function runWorker(configPath: string | undefined): Promise<number> {
  const config = loadConfig(configPath);
  const logger = createLogger(config.observability.logLevel, undefined, secretsOf(config));
  const metrics = new WorkerMetrics();
  const worker = new InferenceWorker(config, metrics, logger);
  let server: Server | undefined;

  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'stopping: draining in-flight work');
    void worker.stop();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // SIGHUP: look for a newer model version now, load and warm it, swap it in.
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading the model');
    void worker.reloadModel();
  });

  try {
    if (config.observability.port > 0) {
      const { host, port } = config.observability;
      server = await startHealthServer(host, port, metrics.registry, {
        live: () => worker.live,
        ready: () => worker.ready,
      });
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
    server?.close();
  }
}
