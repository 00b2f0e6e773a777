import { Presets, SingleBar } from 'cli-progress';
import { loadConfig } from '../config/load-config.js';
import { BoundedConsumer } from '../kafka/bounded-consumer.js';
import { replayRanges, withGroupAt } from '../kafka/topic-admin.js';
import { secretsOf } from '../config/config-secrets.js';
import { createLogger } from '../observability/logger.js';
import { WorkerMetrics } from '../observability/metrics.js';
import { InferenceWorker } from '../pipeline/inference-worker.js';
import { UsageError } from './usage-error.js';

export interface ReplayOptions {
  config?: string;
  from?: string;
  to?: string;
  output?: string;
}

/**
 * `kafka-infer replay`: runs the worker's own pipeline (same batching, cache and dead-letter
 * rules) over exactly the input records whose timestamps fall in [from, to), then exits with a
 * summary. It reads through a group of its own, started at the range by offsets-for-times, so the
 * live group's offsets are never touched; that group is deleted afterwards.
 */
export async function replayCommand(options: ReplayOptions): Promise<number> {
  const fromMs = parseTime(options.from, '--from');
  const toMs = parseTime(options.to, '--to');
  if (toMs <= fromMs) throw new UsageError('--to must be after --from');
  const base = loadConfig(options.config);
  const logger = createLogger(
    base.observability.logLevel === 'info' ? 'warn' : base.observability.logLevel,
    undefined,
    secretsOf(base),
  );
  if (!base.kafka.inputTopics) {
    throw new UsageError(
      'replay reads kafka.inputTopics; a kafka.inputTopicPattern is not replayed',
    );
  }
  const groupId = `${base.kafka.groupId}-replay-${Date.now()}`;
  const config = {
    ...base,
    kafka: {
      ...base.kafka,
      groupId,
      groupInstanceId: undefined,
      outputTopic: options.output ?? base.kafka.outputTopic,
    },
    observability: { ...base.observability, port: 0 },
    // A backfill answers the past again: its predictions are not the ones outcomes score.
    feedback: undefined,
  };
  const ranges = await replayRanges(config.kafka, base.kafka.inputTopics, fromMs, toMs, logger);
  const bar = new SingleBar(
    {
      stream: process.stderr,
      // Also when stderr is a file or a pipe (a job's log): a line every 2 s.
      noTTYOutput: true,
      format:
        'replay [{bar}] {percentage}% | {value}/{total} events | {speed} events/s | ETA {eta_formatted}',
    },
    Presets.shades_classic,
  );
  const started = performance.now();
  let answered = 0;
  const bounded = new BoundedConsumer(ranges, (count) => {
    answered = count;
    const seconds = (performance.now() - started) / 1000;
    bar.update(count, { speed: seconds > 0 ? Math.round(count / seconds) : 0 });
  });
  const metrics = new WorkerMetrics();
  const worker = new InferenceWorker(config, metrics, logger, {
    wrapConsumer: (consumer) => bounded.wrap(consumer),
  });
  bar.start(bounded.total, 0, { speed: 0 });
  try {
    await withGroupAt(config.kafka, groupId, ranges, logger, async () => {
      if (bounded.total > 0) {
        await worker.start();
        await Promise.race([bounded.done, worker.stopped]);
      }
      await worker.stop();
    });
  } finally {
    bar.stop();
  }
  if (worker.failure) throw worker.failure;
  const sum = async (counter: { get(): Promise<{ values: { value: number }[] }> }) =>
    (await counter.get()).values.reduce((total, { value }) => total + value, 0);
  const seconds = (performance.now() - started) / 1000;
  const summary = {
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    output: config.kafka.outputTopic,
    events: answered,
    predictions: await sum(metrics.predictions),
    deadLetters: await sum(metrics.deadLetters),
    seconds: Math.round(seconds * 10) / 10,
    eventsPerSecond: seconds > 0 ? Math.round(answered / seconds) : 0,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}

function parseTime(text: string | undefined, option: string): number {
  if (!text) throw new UsageError(`${option} is required (an ISO time, e.g. 2026-11-30T12:00:00Z)`);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`${option} expects an ISO time, got "${text}"`);
  return ms;
}
