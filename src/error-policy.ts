/**
 * The one error policy. Every failure is classified here, once, and each catch site handles the
 * class, not the error type:
 *
 * | class       | meaning                                   | what the worker does                      |
 * |-------------|-------------------------------------------|-------------------------------------------|
 * | retriable   | a dependency is unavailable (broker,      | wait with backoff and jitter, retry;      |
 * |             | registry, an inference thread, a commit,  | never commit past the event               |
 * |             | an aborted transaction)                   |                                           |
 * | poison      | this event's own fault (bad bytes, bad    | dead letter with stage and reason;        |
 * |             | fields, an output the broker can't take)  | counts as done, committed                 |
 * | model-fault | the model or its device, not the data     | no dead letter: circuit opens, intake     |
 * |             |                                           | stops, roll back or retry with backoff    |
 * | fatal       | configuration, authorization, a missing   | stop (commit what is acknowledged) and    |
 * |             | topic, a fenced producer, a bug           | exit non-zero with the cause              |
 */
import {
  CommitFailedError,
  ConfigError,
  InferenceError,
  KafkaFatalError,
  ModelFaultError,
  ModelLoadError,
  PoisonInputError,
  ProduceFailedError,
  ProducerFencedError,
  RetriableError,
  TransactionAbortedError,
  type ProduceFailureReason,
} from './errors.js';

export type FailureClass = 'retriable' | 'poison' | 'model-fault' | 'fatal';

/**
 * Produce failures by the client's reason. "unknown-topic" is retriable because brokers answer it
 * for a moment while they load partitions after a restart; start-up has already checked that the
 * output topics exist (a missing one is fatal there).
 */
const PRODUCE_FAILURES: Record<ProduceFailureReason, FailureClass> = {
  transient: 'retriable',
  'unknown-topic': 'retriable',
  other: 'retriable',
  'too-large': 'poison',
  'invalid-record': 'poison',
  authorization: 'fatal',
  fatal: 'fatal',
};

export function classifyFailure(error: unknown): FailureClass {
  if (error instanceof PoisonInputError) return 'poison';
  if (error instanceof ProduceFailedError) return PRODUCE_FAILURES[error.reason];
  if (
    error instanceof RetriableError ||
    error instanceof CommitFailedError ||
    error instanceof TransactionAbortedError
  ) {
    return 'retriable';
  }
  if (error instanceof ModelFaultError || error instanceof InferenceError) return 'model-fault';
  if (
    error instanceof ConfigError ||
    error instanceof ModelLoadError ||
    error instanceof KafkaFatalError ||
    error instanceof ProducerFencedError
  ) {
    return 'fatal';
  }
  // Anything unforeseen is a bug: retrying it would stall a partition forever, so the worker
  // stops and says so, and its supervisor restarts it.
  return 'fatal';
}

export function isRetriable(error: unknown): boolean {
  return classifyFailure(error) === 'retriable';
}

export function isFatal(error: unknown): boolean {
  return classifyFailure(error) === 'fatal';
}

/** Exit code of a fatal stop: 78 (EX_CONFIG) when no restart can fix it, 1 for the rest. */
export function exitCodeFor(error: unknown): number {
  return error instanceof ConfigError ||
    error instanceof ModelLoadError ||
    error instanceof KafkaFatalError ||
    (error instanceof ProduceFailedError && error.reason === 'authorization')
    ? 78
    : 1;
}
