/**
 * Throughput on a backlog: every contender drains the same pre-filled input topic (6 partitions),
 * each with a fresh group and a fresh output topic whose records carry the broker's
 * LogAppendTime. A contender's rate is its output count over the span between its first and its
 * last output's append time, so neither start-up nor a client-side clock counts.
 */
import type { Message } from 'kafkajs';
import { REDIS_URL } from '../../deploy/local/redis.js';
import { createTopic, deleteTopics, withAdmin } from '../helpers/kafka-test-helpers.js';
import {
  LOG_APPEND_TIME,
  deletePipelineTopics,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import type { TransportName } from '../helpers/transports.js';
import type { BenchModel } from './bench-models.js';
import { fmt, markdownTable, progress } from './bench-table.js';
import { waitUntilCommitted } from './drain-timer.js';
import { startPassThrough } from './kafka-pass-through.js';
import { INPUT_PARTITIONS, prefilledInput } from './prefilled-input.js';
import { drainWithPythonPeer, topicStats, type PeerMode } from './python-peers.js';
import { drainWithWorker } from './worker-drain.js';

/**
 * The worker in the benchmark: its defaults, on the CPU. The test fixture pins every provenance
 * header; the benchmark puts back the default (none), so that it measures what a user runs.
 */
export const WORKER_OPTIONS = {
  model: { device: 'cpu' },
  kafka: { predictionHeaders: [] as string[] },
  batching: {},
};

export type Contender =
  | {
      kind: 'worker';
      label: string;
      client: TransportName;
      overrides?: Parameters<typeof workerConfigFor>[2];
      /** Another model directory than the section's (same graph, other model.json). */
      modelDir?: () => string;
      /**
       * feedback on, predictions kept in the stack's Redis for the outcome join (an outcome topic
       * of its own, empty: what is measured is keeping every prediction, the hot path's part).
       */
      feedback?: boolean;
    }
  | { kind: 'python'; label: string; mode: PeerMode }
  | { kind: 'kafkajs-pass-through'; label: string };

export interface ThroughputRow {
  model: string;
  contender: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** Worker only: rows per inference call, and spawn-to-ready seconds (not in the rate). */
  meanBatchSize?: number;
  startupSeconds?: number;
}

/** Runs each contender in turn on one pre-filled input; rows in contender order. */
export async function benchThroughput(
  model: BenchModel | undefined,
  label: string,
  messages: readonly Message[],
  contenders: readonly Contender[],
  timeoutMs: number,
): Promise<ThroughputRow[]> {
  const { topics: input, end } = await prefilledInput(`bench-${label}`, messages);
  const rows: ThroughputRow[] = [];
  try {
    for (const [index, contender] of contenders.entries()) {
      progress(`${label}: ${contender.label}`);
      const topics: PipelineTopics = {
        input: input.input,
        output: `${input.input}-c${index}-out`,
        deadLetter: `${input.input}-c${index}-dlq`,
        groupId: `${input.input}-c${index}-group`,
      };
      await createTopic(topics.output, INPUT_PARTITIONS, LOG_APPEND_TIME);
      await createTopic(topics.deadLetter, 1);
      const outcomes =
        contender.kind === 'worker' && contender.feedback ? `${topics.output}-outcomes` : undefined;
      if (outcomes) await createTopic(outcomes, 2);
      try {
        const extras = await drain(
          contender,
          model,
          topics,
          end,
          messages.length,
          timeoutMs,
          outcomes,
        );
        const stats = await topicStats(topics.output, false, timeoutMs);
        if (stats.count < messages.length) {
          throw new Error(
            `${contender.label} wrote ${stats.count} outputs for ${messages.length} events`,
          );
        }
        const seconds = (stats.last - stats.first) / 1000;
        rows.push({
          model: label,
          contender: contender.label,
          events: stats.count,
          seconds,
          eventsPerSecond: stats.count / seconds,
          ...extras,
        });
      } finally {
        await withAdmin((admin) => admin.deleteGroups([topics.groupId])).catch(() => undefined);
        await deleteTopics([topics.output, topics.deadLetter, ...(outcomes ? [outcomes] : [])]);
      }
    }
  } finally {
    await deletePipelineTopics(input); // its own group never joined; each contender's is gone
  }
  return rows;
}

async function drain(
  contender: Contender,
  model: BenchModel | undefined,
  topics: PipelineTopics,
  end: Record<number, number>,
  events: number,
  timeoutMs: number,
  outcomes: string | undefined,
): Promise<Partial<ThroughputRow>> {
  switch (contender.kind) {
    case 'worker': {
      const feedback = outcomes
        ? {
            cache: { enabled: false, redisUrl: REDIS_URL },
            feedback: {
              topic: outcomes,
              idField: 'id',
              labelField: 'label',
              keyPrefix: `${topics.groupId}-feedback`,
            },
          }
        : {};
      const config = workerConfigFor(topics, contender.modelDir?.() ?? model!.dir, {
        ...WORKER_OPTIONS,
        ...feedback,
        ...contender.overrides,
        kafka: { ...WORKER_OPTIONS.kafka, ...contender.overrides?.kafka, client: contender.client },
        batching: { ...WORKER_OPTIONS.batching, ...contender.overrides?.batching },
      });
      const drained = await drainWithWorker(topics, end, config, timeoutMs);
      return { meanBatchSize: drained.meanBatchSize, startupSeconds: drained.startupSeconds };
    }
    case 'python':
      await drainWithPythonPeer(contender.mode, topics, events, model?.dir, timeoutMs);
      return {};
    case 'kafkajs-pass-through': {
      const peer = await startPassThrough(topics);
      try {
        await waitUntilCommitted(topics.groupId, topics.input, end, timeoutMs);
      } finally {
        await peer.stop();
      }
      return {};
    }
  }
}

export function throughputTable(rows: readonly ThroughputRow[]): string {
  return markdownTable(
    ['model', 'contender', 'events', 'seconds', 'events/s', 'mean batch', 'startup s'],
    rows.map((row) => [
      row.model,
      row.contender,
      fmt(row.events),
      fmt(row.seconds, 2),
      fmt(row.eventsPerSecond),
      row.meanBatchSize === undefined ? '' : fmt(row.meanBatchSize, 1),
      row.startupSeconds === undefined ? '' : fmt(row.startupSeconds, 1),
    ]),
  );
}
