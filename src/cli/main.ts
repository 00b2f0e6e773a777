#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { errorMessage } from '../errors.js';
import { exitCodeFor } from '../error-policy.js';
import { runWorker } from './run-worker.js';

const USAGE = `kafka-infer <command> [options]

Commands:
  worker  --config FILE                 run the inference worker (env INFER_* overrides keys)
  produce --topic T [--count N] [--rate R] [--file F.jsonl] [--model DIR] [--brokers B]
          [--schema F.avsc [--registry URL]]
                                        produce sample or file events (Avro with --schema)
  tail    --topic T [--count N] [--from latest] [--brokers B] [--registry URL]
                                        print records of a topic (Avro decoded with --registry)
  demo    [--count N] [--rate R]        run the whole path on the local stack and summarise`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      topic: { type: 'string' },
      count: { type: 'string' },
      rate: { type: 'string' },
      file: { type: 'string' },
      model: { type: 'string' },
      brokers: { type: 'string' },
      from: { type: 'string' },
      schema: { type: 'string' },
      registry: { type: 'string' },
    },
    allowPositionals: false,
  });
  switch (command) {
    case 'worker':
      return runWorker(values.config);
    case 'produce':
      return (await import('./produce-command.js')).produceCommand(values);
    case 'tail':
      return (await import('./tail-command.js')).tailCommand(values);
    case 'demo':
      return (await import('./demo-command.js')).demoCommand(values);
    default:
      process.stderr.write(`${USAGE}\n`);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
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
