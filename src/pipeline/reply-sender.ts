import type { Logger } from 'pino';
import { retryWithBackoff, type BackoffOptions } from '../batch/backoff.js';
import { ProduceFailedError, errorMessage } from '../errors.js';
import type { OutgoingRecord, ProducerTransport } from '../kafka/transport.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { PartitionLane } from './partition-lane.js';

/** Attempts at sending a lane's replies before giving them up. */
const MAX_REPLY_ATTEMPTS = 5;

/**
 * Request/reply: sends the replies of a lane's outputs once those are acknowledged (at least
 * once) or committed (exactly once), on a producer outside any transaction. The output topic
 * holds the durable answer, a reply is the requester's shortcut: a reply that fails for a
 * reason other than a transient one (its topic vanished), or keeps failing, is given up (counted
 * and logged) rather than holding the partition, and the requester times out. One send per
 * reply topic, so that a request naming a topic that does not exist costs only its own reply.
 */
export class ReplySender {
  constructor(
    private readonly producer: ProducerTransport,
    private readonly backoff: BackoffOptions,
    private readonly keepRetrying: () => boolean,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {}

  async send(lane: PartitionLane, replies: OutgoingRecord[]): Promise<void> {
    if (replies.length === 0) return;
    const byTopic = new Map<string, OutgoingRecord[]>();
    for (const reply of replies) {
      const group = byTopic.get(reply.topic);
      if (group) group.push(reply);
      else byTopic.set(reply.topic, [reply]);
    }
    for (const group of byTopic.values()) await this.sendGroup(lane, group);
  }

  private async sendGroup(lane: PartitionLane, replies: OutgoingRecord[]): Promise<void> {
    try {
      await retryWithBackoff(() => this.producer.send(replies), {
        ...this.backoff,
        isRetriable: (error) => error instanceof ProduceFailedError && error.reason === 'transient',
        shouldContinue: (attempt) => attempt < MAX_REPLY_ATTEMPTS && this.keepRetrying(),
      });
      this.metrics.replies.inc({ result: 'sent' }, replies.length);
    } catch (error) {
      this.metrics.replies.inc({ result: 'failed' }, replies.length);
      this.logger.warn(
        { err: errorMessage(error), lane: lane.key, replies: replies.length },
        'replies not delivered; their requests will time out (the predictions are on the output topic)',
      );
    }
  }
}
