/** Turns an input record's value into a plain object of named fields. */
export interface EventDecoder {
  /**
   * Resolves with the decoded fields. Rejects with PoisonInputError when the bytes are bad
   * (they go to the DLQ) or RetriableError when a dependency failed (retried, never DLQ'd).
   */
  decode(value: Buffer | null): Promise<Record<string, unknown>> | Record<string, unknown>;
}

/** Turns a prediction into an output record value. */
export interface PredictionEncoder<T> {
  encode(prediction: T): Promise<Buffer> | Buffer;
}
