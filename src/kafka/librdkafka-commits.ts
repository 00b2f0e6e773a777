import { CommitFailedError, errorMessage } from '../errors.js';
import type { RdKafkaError, RdTopicPartition } from './librdkafka-binding.js';

/** How long a commit may wait for the coordinator before it counts as failed and is retried. */
const COMMIT_TIMEOUT_MS = 30_000;

interface PendingCommit {
  readonly signature: string;
  settle(error?: Error): void;
}

/**
 * Commits that resolve when the group coordinator has answered, not when librdkafka has queued
 * them. The binding's commit callback fires on enqueue; the real outcome arrives later through
 * `offset_commit_cb` (served by the consumer's poll) and is matched here by its offsets. Without
 * this, a commit lost in a broker outage looks done and is never retried.
 */
export class LibrdkafkaCommits {
  private readonly pending: PendingCommit[] = [];
  private closedReason: string | undefined;

  /** Sends `offsets` with `send` and resolves when the coordinator accepted all of them. */
  commit(offsets: RdTopicPartition[], send: (offsets: RdTopicPartition[]) => void): Promise<void> {
    if (this.closedReason !== undefined) {
      return Promise.reject(new CommitFailedError(`commit failed: ${this.closedReason}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => done(new CommitFailedError(`commit failed: no answer in ${COMMIT_TIMEOUT_MS} ms`)),
        COMMIT_TIMEOUT_MS,
      );
      const entry: PendingCommit = { signature: signatureOf(offsets), settle: done };
      const pending = this.pending;
      function done(error?: Error): void {
        clearTimeout(timer);
        const index = pending.indexOf(entry);
        if (index < 0) return;
        pending.splice(index, 1);
        if (error) reject(error);
        else resolve();
      }
      pending.push(entry);
      try {
        send(offsets);
      } catch (error) {
        done(new CommitFailedError(`commit failed: ${errorMessage(error)}`, { cause: error }));
      }
    });
  }

  /** librdkafka's `offset_commit_cb`: `error` is set when any partition failed. */
  onResult(error: RdKafkaError | null | undefined, offsets: RdTopicPartition[]): void {
    const signature = signatureOf(offsets);
    const entry = this.pending.find((candidate) => candidate.signature === signature);
    if (!entry) return; // a result for a commit that already timed out
    entry.settle(
      error
        ? new CommitFailedError(`commit failed: ${errorMessage(error)}`, { cause: error })
        : undefined,
    );
  }

  /** The consumer stopped polling: nothing will answer the commits waiting or to come. */
  close(reason: string): void {
    this.closedReason = reason;
    for (const entry of [...this.pending])
      entry.settle(new CommitFailedError(`commit failed: ${reason}`));
  }
}

function signatureOf(offsets: RdTopicPartition[]): string {
  return offsets
    .map(({ topic, partition, offset }) => `${topic}/${partition}@${offset}`)
    .sort()
    .join(',');
}
