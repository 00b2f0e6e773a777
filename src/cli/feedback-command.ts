import { produceEvents, readJsonLines } from './produce-command.js';
import { sampleOutcomes } from './sample-outcomes.js';
import { UsageError } from './usage-error.js';

export interface FeedbackOptions {
  topic?: string;
  file?: string;
  count?: string;
  model?: string;
  accuracy?: string;
  'label-field'?: string;
  rate?: string;
  brokers?: string;
}

/**
 * `kafka-infer feedback`: outcomes for the worker's feedback topic, from a JSONL file (one
 * outcome per line, keyed by its `id`), or generated for the sample events (see sample-outcomes).
 */
export async function feedbackCommand(options: FeedbackOptions): Promise<number> {
  if (!options.topic) throw new UsageError('feedback needs --topic');
  if (Boolean(options.file) === Boolean(options.count)) {
    throw new UsageError('feedback needs --file (outcomes to send) or --count (generated ones)');
  }
  const accuracy = Number(options.accuracy ?? 0.9);
  if (!(accuracy >= 0 && accuracy <= 1)) {
    throw new UsageError(`--accuracy expects a share between 0 and 1, got "${options.accuracy}"`);
  }
  const count = Number(options.count);
  const outcomes = options.file
    ? readJsonLines(options.file)
    : sampleOutcomes(
        options.model ?? 'models/fraud-mlp/1',
        count,
        accuracy,
        options['label-field'] ?? 'label',
      );
  const sent = await produceEvents(options.topic, outcomes, {
    rate: options.rate ? Number(options.rate) : Infinity,
    brokers: options.brokers,
    total: options.file ? undefined : count,
  });
  process.stderr.write(`produced ${sent} outcomes to ${options.topic}\n`);
  return 0;
}
