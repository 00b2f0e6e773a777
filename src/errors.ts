/**
 * One error hierarchy for the worker. Every error says whether retrying can help:
 * - retriable: a dependency is unavailable (broker, registry, inference thread); wait and retry,
 *   never commit past it.
 * - poison: the input itself is bad; it goes to the dead-letter topic and counts as done.
 */

/**
 * The pipeline stage where an event failed; travels as a dead-letter header. "size": an input
 * over limits.maxEventBytes, refused before decoding; "produce": an output the broker refuses as
 * too large.
 */
export type FailureStage =
  'size' | 'decode' | 'featurize' | 'cache' | 'infer' | 'postprocess' | 'encode' | 'produce';

export abstract class WorkerError extends Error {
  abstract readonly retriable: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input: retrying the same bytes gives the same failure. Sent to the DLQ. */
export class PoisonInputError extends WorkerError {
  readonly retriable = false;
  constructor(
    readonly stage: FailureStage,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A dependency failed in a way that may heal: retry with backoff, commit nothing past it. */
export class RetriableError extends WorkerError {
  readonly retriable = true;
}

/** Invalid configuration, found at start-up. The message names the key and what was expected. */
export class ConfigError extends WorkerError {
  readonly retriable = false;
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`config key "${key}": ${message}`);
  }
}

/** The model on disk is unusable or disagrees with its model.json. Stops start-up. */
export class ModelLoadError extends WorkerError {
  readonly retriable = false;
}

/** The inference session failed on a batch; the batch is bisected to find the rows at fault. */
export class InferenceError extends WorkerError {
  readonly retriable = false;
}

/**
 * An event whose output record is bigger than the broker accepts: resending cannot help. Its
 * dead letter carries the original's size and sha256, and as much of the value as fits.
 */
export class OutputTooLargeError extends PoisonInputError {
  constructor(
    readonly originalBytes: number,
    readonly originalSha256: string,
    message: string,
  ) {
    super('produce', message);
  }
}

/** Why a produce failed, as far as the client says; decides whether resending can help. */
export type ProduceFailureReason =
  'transient' | 'too-large' | 'authorization' | 'unknown-topic' | 'invalid-record' | 'other';

/** The broker did not acknowledge a produce. */
export class ProduceFailedError extends WorkerError {
  readonly retriable: boolean;
  constructor(
    readonly reason: ProduceFailureReason,
    message: string,
    options?: { cause?: unknown; retriable?: boolean },
  ) {
    super(message, options);
    this.retriable = options?.retriable ?? reason === 'transient';
  }
}

/** The client did not perform a commit (not a member now, or the request failed): retry later. */
export class CommitFailedError extends WorkerError {
  readonly retriable = true;
}

/**
 * Kafka refuses this worker in a way no retry will fix (authentication, authorization, a codec the
 * client cannot read). The worker stops with a message naming the cause and the fix.
 */
export class KafkaFatalError extends WorkerError {
  readonly retriable = false;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function errorClass(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
