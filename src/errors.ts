/**
 * One error hierarchy for the worker. What each error means for the event and the process
 * (retriable, poison, model fault, fatal) is decided in one table: error-policy.ts.
 */

/**
 * The pipeline stage where an event failed; travels as a dead-letter header. "size": an input
 * over limits.maxEventBytes, refused before decoding; "produce": an output the broker refuses as
 * too large; "feedback": an outcome record (feedback.topic) with no usable id or truth.
 */
export type FailureStage =
  | 'size'
  | 'reply'
  | 'decode'
  | 'featurize'
  | 'cache'
  | 'infer'
  | 'postprocess'
  | 'encode'
  | 'produce'
  | 'feedback';

/** Where a failure happened, as far as the catch site knows: logged and put in headers. */
export interface FailureContext {
  topic?: string;
  partition?: number;
  offset?: string;
  modelVersion?: string;
}

export abstract class WorkerError extends Error {
  context: FailureContext = {};
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  /** Adds what the catch site knows (topic, partition, offset, model version); returns this. */
  at(context: FailureContext): this {
    this.context = { ...this.context, ...context };
    return this;
  }
}

/** Why an event is poison, in a word: the dead letter's `dlq.error.reason` and metric label. */
export type PoisonReason =
  | 'too-large'
  | 'empty'
  | 'malformed'
  | 'unknown-schema'
  | 'invalid-feature'
  | 'model-rejected'
  | 'non-finite-output'
  | 'schema-violation'
  | 'invalid-record'
  | 'reply-not-allowed'
  | 'invalid-outcome'
  | 'other';

const REASON_BY_STAGE: Record<FailureStage, PoisonReason> = {
  size: 'too-large',
  reply: 'reply-not-allowed',
  decode: 'malformed',
  featurize: 'invalid-feature',
  cache: 'other',
  infer: 'model-rejected',
  postprocess: 'other',
  encode: 'schema-violation',
  produce: 'too-large',
  feedback: 'invalid-outcome',
};

/** Bad input: retrying the same bytes gives the same failure. Sent to the DLQ. */
export class PoisonInputError extends WorkerError {
  readonly reason: PoisonReason;
  constructor(
    readonly stage: FailureStage,
    message: string,
    options?: { cause?: unknown; reason?: PoisonReason },
  ) {
    super(message, options);
    this.reason = options?.reason ?? REASON_BY_STAGE[stage];
  }
}

/** A dependency failed in a way that may heal: retry with backoff, commit nothing past it. */
export class RetriableError extends WorkerError {}

/** Invalid configuration, found at start-up. The message names the key and what was expected. */
export class ConfigError extends WorkerError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`config key "${key}": ${message}`);
  }
}

/** The model on disk is unusable or disagrees with its model.json. Stops start-up. */
export class ModelLoadError extends WorkerError {}

/** The inference session failed on a batch; the batch is bisected to find the rows at fault. */
export class InferenceError extends WorkerError {}

/**
 * The model (or its device) failed, not the data: a whole batch failed and no row of it
 * succeeded alone. Nothing is dead-lettered; the version's circuit opens instead.
 */
export class ModelFaultError extends WorkerError {
  constructor(
    readonly modelVersion: string,
    readonly rows: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.context.modelVersion = modelVersion;
  }
}

/**
 * An event whose output record the broker refuses (too large, or an invalid record): resending
 * cannot help. Its dead letter carries the original's size and sha256, and the first `keptBytes`
 * of the value.
 */
export class OutputTooLargeError extends PoisonInputError {
  constructor(
    readonly originalBytes: number,
    readonly originalSha256: string,
    readonly keptBytes: number,
    message: string,
    reason: 'too-large' | 'invalid-record' = 'too-large',
  ) {
    super('produce', message, { reason });
  }
}

/**
 * Why a produce failed, as far as the client says; decides whether resending can help. "fatal":
 * the producer itself is dead (librdkafka's fatal error, e.g. an idempotent producer's sequence
 * lost); only a new process, with a new producer, can send again.
 */
export const PRODUCE_FAILURE_REASONS = [
  'transient',
  'too-large',
  'authorization',
  'unknown-topic',
  'invalid-record',
  'fatal',
  'other',
] as const;
export type ProduceFailureReason = (typeof PRODUCE_FAILURE_REASONS)[number];

/** The broker did not acknowledge a produce; the reason decides its class (error-policy.ts). */
export class ProduceFailedError extends WorkerError {
  constructor(
    readonly reason: ProduceFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The client did not perform a commit (not a member now, or the request failed): retry later. */
export class CommitFailedError extends WorkerError {}

/**
 * Exactly-once: the open transaction could not commit (a send or the commit failed, or this
 * member's group generation is stale) and was aborted. Nothing of it became visible; its events
 * are sent again in the next transaction.
 */
export class TransactionAbortedError extends WorkerError {}

/**
 * Exactly-once: another producer with this transactional.id, or a newer group generation, fenced
 * this one (a zombie: the process was stopped past its session and its partitions moved on). It
 * can commit nothing more; the process stops and its supervisor starts a fresh member.
 */
export class ProducerFencedError extends WorkerError {}

/**
 * Kafka refuses this worker in a way no retry will fix (authentication, authorization, a codec the
 * client cannot read). The worker stops with a message naming the cause and the fix.
 */
export class KafkaFatalError extends WorkerError {}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function errorClass(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
