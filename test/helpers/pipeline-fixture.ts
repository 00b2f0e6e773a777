import { PREDICTION_HEADER_NAMES } from '../../src/wire-contract.js';
import { Partitioners, type IHeaders, type Message } from 'kafkajs';
import {
  committedOffsets,
  createTopic,
  deleteTopics,
  endOffsets,
  readAllMessages,
  testKafka,
  uniqueName,
  waitFor,
  type ReadRecord,
} from './kafka-test-helpers.js';
import type { TransportName } from './transports.js';

/** The topics and group of one test's pipeline, unique per test. */
export interface PipelineTopics {
  input: string;
  output: string;
  deadLetter: string;
  groupId: string;
  /** The worker's kafka.client for this test; the config default (auto) when absent. */
  client?: TransportName;
}

export async function createPipelineTopics(
  prefix: string,
  inputPartitions: number,
  client?: TransportName,
  /** Topic configs of the output topic, e.g. LogAppendTime to time outputs by the broker. */
  outputConfig: Record<string, string> = {},
): Promise<PipelineTopics> {
  const input = uniqueName(`${prefix}${client ? `-${client}` : ''}-in`);
  const topics = {
    client,
    input,
    output: `${input}-out`,
    deadLetter: `${input}-dlq`,
    groupId: `${input}-group`,
  };
  await createTopic(topics.input, inputPartitions);
  await createTopic(topics.output, inputPartitions, outputConfig);
  await createTopic(topics.deadLetter, 1);
  return topics;
}

export function deletePipelineTopics(topics: PipelineTopics): Promise<void> {
  return deleteTopics([topics.input, topics.output, topics.deadLetter]);
}

/** Topics a suite creates as its tests go, all deleted by `deleteAll()` in its after hook. */
export class SuiteTopics {
  private readonly names: string[] = [];

  async pipeline(prefix: string, inputPartitions: number): Promise<PipelineTopics> {
    const topics = await createPipelineTopics(prefix, inputPartitions);
    this.track(topics.input, topics.output, topics.deadLetter);
    return topics;
  }

  /** Another topic the suite made, to delete with the rest. */
  track(...names: string[]): void {
    this.names.push(...names);
  }

  deleteAll(): Promise<void> {
    return deleteTopics(this.names.splice(0));
  }
}

type ConfigSection =
  | 'kafka'
  | 'model'
  | 'codec'
  | 'schemaRegistry'
  | 'cache'
  | 'batching'
  | 'flowControl'
  | 'delivery'
  | 'shutdown'
  | 'limits'
  | 'replies'
  | 'feedback'
  | 'observability';

/** Keys a test sets on top of workerConfigFor's defaults, section by section. */
export type WorkerConfigOverrides = Partial<Record<ConfigSection, Record<string, unknown>>> & {
  processes?: number | 'auto';
};

/** A worker config for these topics and a model, with overrides merged per section. */
export function workerConfigFor(
  topics: PipelineTopics,
  modelPath: string,
  overrides: WorkerConfigOverrides = {},
): Record<string, unknown> {
  return {
    ...(overrides.processes !== undefined ? { processes: overrides.processes } : {}),
    kafka: {
      // The tests pin the whole wire contract, so their predictions carry every provenance
      // header (the default is none; the benchmark measures the default).
      predictionHeaders: [...PREDICTION_HEADER_NAMES],
      groupId: topics.groupId,
      inputTopics: [topics.input],
      outputTopic: topics.output,
      deadLetterTopic: topics.deadLetter,
      ...(topics.client ? { client: topics.client } : {}),
      ...overrides.kafka,
    },
    model: { path: modelPath, device: 'cpu', ...overrides.model },
    codec: { ...overrides.codec },
    ...(overrides.schemaRegistry ? { schemaRegistry: overrides.schemaRegistry } : {}),
    cache: { ...overrides.cache },
    batching: { ...overrides.batching },
    flowControl: { ...overrides.flowControl },
    delivery: { ...overrides.delivery },
    shutdown: { ...overrides.shutdown },
    limits: { ...overrides.limits },
    ...(overrides.replies ? { replies: overrides.replies } : {}),
    ...(overrides.feedback ? { feedback: overrides.feedback } : {}),
    observability: { logLevel: 'info', ...overrides.observability },
  };
}

/** The model section for fraud-mlp version 1 from models/, with version 2 as a shadow on `topic`. */
export function fraudModelWithShadow(topic: string): Record<string, unknown> {
  return {
    path: undefined,
    repository: 'models',
    name: 'fraud-mlp',
    version: '1',
    shadow: { version: '2', topic },
  };
}

/** Produces raw messages in chunks with acks=all; keyed messages spread by the default partitioner. */
export async function produceMessages(
  topic: string,
  messages: Message[],
  chunk = 1_000,
): Promise<void> {
  const producer = testKafka().producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += chunk) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + chunk) });
    }
  } finally {
    await producer.disconnect();
  }
}

export function jsonMessage(event: { id: string }, headers?: IHeaders): Message {
  return { key: event.id, value: JSON.stringify(event), headers };
}

export function header(record: ReadRecord, name: string): string | undefined {
  return record.headers[name]?.toString();
}

/** Reads predictions and dead letters once together they account for `expected` inputs. */
export async function readOutputs(
  topics: PipelineTopics,
  expected: number,
  timeoutMs = 120_000,
): Promise<{ predictions: ReadRecord[]; deadLetters: ReadRecord[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let predictions: ReadRecord[];
    let deadLetters: ReadRecord[];
    try {
      predictions = await readAllMessages(topics.output, { timeoutMs: 30_000 });
      deadLetters = await readAllMessages(topics.deadLetter, { timeoutMs: 30_000 });
    } catch (error) {
      // A read_committed reader waits behind an open transaction (exactly-once, after an
      // outage): try again until the deadline.
      if (Date.now() > deadline) throw error;
      continue;
    }
    if (
      distinctSources(predictions) + distinctSources(deadLetters, 'dlq.') >= expected ||
      Date.now() > deadline
    ) {
      return { predictions, deadLetters };
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** "partition@offset" of the input record an output answers (dead letters: prefix "dlq."). */
export function sourceOf(record: ReadRecord, prefix = ''): string {
  return `${header(record, `${prefix}source.partition`)}@${header(record, `${prefix}source.offset`)}`;
}

/** Distinct source (partition, offset) pairs among output records. */
export function distinctSources(records: ReadRecord[], prefix = ''): number {
  return new Set(records.map((record) => sourceOf(record, prefix))).size;
}

/** Waits until the group's committed offsets equal the input's end offsets, partition by partition. */
export async function waitForCommittedToEnd(
  topics: PipelineTopics,
  timeoutMs: number,
): Promise<void> {
  const end = JSON.stringify(await endOffsets(topics.input));
  let committed = '';
  await waitFor(
    async () =>
      (committed = JSON.stringify(await committedOffsets(topics.groupId, topics.input))) === end,
    {
      timeoutMs,
      intervalMs: 200,
      message: () => `committed offsets ${committed} to reach the end offsets ${end}`,
    },
  );
}

/** The output topic's timestamps are the broker's append times (no client clock counts). */
export const LOG_APPEND_TIME = { 'message.timestamp.type': 'LogAppendTime' };

/** The longest pause between consecutive outputs, by their broker timestamps, in ms. */
export function longestGapMs(records: ReadRecord[]): number {
  const times = records.map((record) => Number(record.timestamp)).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}
