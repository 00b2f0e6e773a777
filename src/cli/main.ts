#!/usr/bin/env -S node --max-semi-space-size=16
// The young generation capped at 16 MiB a semi-space: Node 24 sizes it from the host's memory,
// and on a 24 GiB host the worker's RSS grew ~100 MiB more for no speed (worker-backpressure).
import { parseArgs } from 'node:util';
import { errorMessage } from '../errors.js';
import { exitCodeFor } from '../error-policy.js';
import { runWorker } from './run-worker.js';
import { UsageError } from './usage-error.js';

type OptionName =
  | 'config'
  | 'topic'
  | 'count'
  | 'rate'
  | 'file'
  | 'model'
  | 'brokers'
  | 'from'
  | 'schema'
  | 'registry'
  | 'to'
  | 'output'
  | 'event'
  | 'reply-topic'
  | 'timeout'
  | 'accuracy'
  | 'label-field';
type Values = Partial<Record<OptionName, string>>;

interface Command {
  usage: string;
  options: OptionName[];
  run: (values: Values) => Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  worker: {
    usage: `kafka-infer worker --config FILE

Runs the inference worker until SIGTERM/SIGINT (drain, commit, exit 0); SIGHUP reloads the model.
Every config key can be overridden by an INFER_* variable: INFER_BATCHING__MAX_BATCH_SIZE=32 sets
batching.maxBatchSize. Unknown keys and variables are errors (exit 78), as are invalid values.

  --config, -c FILE   YAML or JSON config (see deploy/config/ and the README's config reference)`,
    options: ['config'],
    run: (values) => runWorker(values.config),
  },
  produce: {
    usage: `kafka-infer produce --topic T [--count N] [--rate R] [--file F.jsonl] [--model DIR]
                    [--brokers B] [--schema F.avsc [--registry URL]]

Produces sample events for a model (or the lines of a JSONL file), as JSON or, with --schema, Avro.

  --topic T       topic to write
  --count N       how many sample events (default 1000)
  --rate R        events per second (default: as fast as possible)
  --file F        JSONL file of events instead of samples
  --model DIR     model whose features the samples fill (default models/fraud-mlp/1)
  --brokers B     bootstrap servers (default 127.0.0.1:9092)
  --schema F      Avro schema file: write Avro in the Confluent wire format
  --registry URL  schema registry for --schema (default the local stack's)`,
    options: ['topic', 'count', 'rate', 'file', 'model', 'brokers', 'schema', 'registry'],
    run: async (values) => (await import('./produce-command.js')).produceCommand(values),
  },
  feedback: {
    usage: `kafka-infer feedback --topic T (--file F.jsonl | --count N [--model DIR] [--accuracy A]
                     [--label-field NAME]) [--rate R] [--brokers B]

Produces outcomes (ground truth) to the topic a worker's feedback.topic names, keyed by their id:
the lines of a JSONL file, or outcomes generated for the sample events \`produce --count\` writes
(ids evt-0, evt-1, ...): the model's own label, replaced by another for a share 1 - A of them. The
generated ones are a demo's truth, to see the join and the accuracy panels work; they say nothing
about the model.

  --topic T            topic to write (the worker's feedback.topic)
  --file F             JSONL file of outcomes, e.g. {"id":"evt-7","label":"fraud"}
  --count N            generate outcomes for sample events 0 .. N-1
  --model DIR          the model whose answers they start from (default models/fraud-mlp/1)
  --accuracy A         share left as the model answered (default 0.9)
  --label-field NAME   field of the generated label (default label; the worker's feedback.labelField)
  --rate R             outcomes per second (default: as fast as possible)
  --brokers B          bootstrap servers (default 127.0.0.1:9092)`,
    options: ['topic', 'file', 'count', 'model', 'accuracy', 'label-field', 'rate', 'brokers'],
    run: async (values) => (await import('./feedback-command.js')).feedbackCommand(values),
  },
  tail: {
    usage: `kafka-infer tail --topic T [--count N] [--from latest] [--brokers B] [--registry URL]

Prints records of a topic, with their headers; Avro values are decoded with --registry.

  --topic T       topic to read
  --count N       stop after N records (default: run until interrupted)
  --from latest   only new records (default: from the beginning)
  --brokers B     bootstrap servers (default 127.0.0.1:9092)
  --registry URL  decode Avro values with this schema registry`,
    options: ['topic', 'count', 'from', 'brokers', 'registry'],
    run: async (values) => (await import('./tail-command.js')).tailCommand(values),
  },
  replay: {
    usage: `kafka-infer replay --config FILE --from TIME --to TIME [--output TOPIC]

Backfill: runs the worker's pipeline (same batching, cache and dead-letter rules) over exactly the
input records whose timestamps fall in [--from, --to), found by offsets-for-times in every
partition, then exits 0 with a JSON summary (events, predictions, dead letters, seconds). It reads
through a group of its own, so the live group's offsets are never touched.

  --config, -c FILE   the worker config (kafka.inputTopics, model, ...)
  --from TIME         ISO time, inclusive (e.g. 2026-11-30T08:00:00Z)
  --to TIME           ISO time, exclusive
  --output TOPIC      write predictions here instead of kafka.outputTopic`,
    options: ['config', 'from', 'to', 'output'],
    run: async (values) => (await import('./replay-command.js')).replayCommand(values),
  },
  request: {
    usage: `kafka-infer request --config FILE --reply-topic TOPIC (--event FILE.json | --event '{...}')
                    [--timeout MS]

Request/reply: sends one event to the worker's input topic with a correlation id and waits for its
prediction on the reply topic (which the worker's replies.allowedTopics must allow); prints the
prediction and the round-trip time.

  --config, -c FILE     a worker config: brokers, input topic, model, codec
  --reply-topic TOPIC   where the worker answers
  --event JSON|FILE     the event, inline or as a JSON file
  --timeout MS          give up after this long (default 10000)`,
    options: ['config', 'reply-topic', 'event', 'timeout'],
    run: async (values) => (await import('./request-command.js')).requestCommand(values),
  },
  bench: {
    usage: `kafka-infer bench

Runs the benchmark suite (npm run bench) from a checkout: the worker against Python and
librdkafka peers on the local stack; writes docs/benchmarks/results.{json,md} and chart.png.
BENCH_SECTIONS=light,heavy,... runs a subset, BENCH_QUICK=1 a tiny one.`,
    options: [],
    run: async () => (await import('./bench-command.js')).benchCommand(),
  },
  demo: {
    usage: `kafka-infer demo [--count N] [--rate R]

Runs the whole path on the local stack (npm run stack -- up): creates topics, starts a worker,
produces sample events and prints throughput, latency percentiles and dead letters.

  --count N   events to produce (default 20000)
  --rate R    events per second (default: as fast as possible)`,
    options: ['count', 'rate'],
    run: async (values) => (await import('./demo-command.js')).demoCommand(values),
  },
};

const USAGE = `kafka-infer <command> [options]    (kafka-infer <command> --help for its options)

Commands:
  worker  --config FILE        run the inference worker (env INFER_* overrides keys)
  produce --topic T [...]      produce sample or file events (Avro with --schema)
  feedback --topic T [...]     produce outcomes (a file, or generated for sample events)
  tail    --topic T [...]      print records of a topic (Avro decoded with --registry)
  replay  --config F --from T --to T   predict a past range of the input (backfill)
  request --config F --event E  send one event, wait for its prediction (request/reply)
  bench                        run the benchmark suite (from a checkout)
  demo    [--count N] [...]    run the whole path on the local stack and summarise`;

/** Numeric options are checked here, before anything starts. */
const NUMERIC: Partial<Record<OptionName, (value: number) => boolean>> = {
  count: (value) => Number.isInteger(value) && value > 0,
  rate: (value) => Number.isFinite(value) && value > 0,
  timeout: (value) => Number.isInteger(value) && value > 0,
};

function parse(command: Command, args: string[]): { values: Values; help: boolean } {
  const options = Object.fromEntries([
    ...command.options.map((name) => [name, { type: 'string' as const }]),
    ['help', { type: 'boolean' as const, short: 'h' }],
  ]);
  if (command.options.includes('config')) options.config = { type: 'string', short: 'c' };
  let parsed: { values: Record<string, unknown> };
  try {
    parsed = parseArgs({ args, options, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  const { help, ...values } = parsed.values;
  for (const [name, valid] of Object.entries(NUMERIC)) {
    const text = values[name];
    if (typeof text === 'string' && !valid(Number(text))) {
      const kind = name === 'rate' ? 'number' : 'integer';
      throw new UsageError(`--${name} expects a positive ${kind}, got "${text}"`);
    }
  }
  return { values: values as Values, help: help === true };
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) {
    const asked = name === undefined || name === 'help' || name === '--help' || name === '-h';
    process.stderr.write(`${asked ? '' : `kafka-infer: unknown command "${name}"\n\n`}${USAGE}\n`);
    return asked ? 0 : 2;
  }
  let parsed: { values: Values; help: boolean };
  try {
    parsed = parse(command, rest);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`kafka-infer ${name}: ${error.message}\n\n${command.usage}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(parsed.values);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`kafka-infer ${name}: ${error.message}\n\n${command.usage}\n`);
    return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // 78: no restart can fix it (config, a model that cannot load, a refused credential).
    const code = exitCodeFor(error);
    process.stderr.write(`kafka-infer: ${errorMessage(error)}\n`);
    if (code !== 78 && error instanceof Error && error.stack) {
      process.stderr.write(`${error.stack}\n`);
    }
    process.exit(code);
  },
);
