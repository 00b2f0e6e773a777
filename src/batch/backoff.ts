import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** Exponential backoff with equal jitter: the n-th wait is random in [c/2, c], c = min(max, initial*2^n). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * Retries `operation` while it throws an error `isRetriable` accepts and `shouldContinue()` holds.
 * The last error is rethrown when retrying stops; `signal` ends a wait between attempts early
 * (whoever aborts it also makes `shouldContinue` false).
 */
export async function retryWithBackoff<T>(
  operation: (attempt: number) => Promise<T>,
  options: BackoffOptions & {
    isRetriable: (error: unknown) => boolean;
    /** Asked before each retry, with the number of attempts made so far minus one. */
    shouldContinue: (attempt: number) => boolean;
    onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
    signal?: AbortSignal;
  },
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!options.isRetriable(error) || !options.shouldContinue(attempt)) throw error;
      const delay = backoffDelay(attempt, options);
      options.onRetry?.(error, attempt, delay);
      if (options.signal?.aborted) throw error;
      await sleep(delay, undefined, { signal: options.signal }).catch(() => {
        throw error; // aborted: the last error is the answer
      });
    }
  }
}
