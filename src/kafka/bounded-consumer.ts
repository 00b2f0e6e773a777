import type { ReplayRange } from './topic-admin.js';
import { partitionKey, type ConsumerTransport, type TopicPartitionOffset } from './transport.js';

/**
 * A consumer that hands over only the records inside the replay ranges: records at or past a
 * partition's end are dropped (taken, never handed over), and `done` resolves once every range's
 * end has been committed, i.e. every event in it was answered.
 */
export class BoundedConsumer {
  private readonly starts = new Map<string, bigint>();
  private readonly ends = new Map<string, bigint>();
  private readonly committed = new Map<string, bigint>();
  /** Per partition: the offset after the last record handed over. */
  private readonly handedUpTo = new Map<string, bigint>();
  private markDone!: () => void;
  readonly done = new Promise<void>((resolve) => (this.markDone = resolve));

  constructor(
    ranges: ReplayRange[],
    /** Called with how many events of all the ranges are answered so far. */
    private readonly onProgress: (answered: number) => void,
  ) {
    for (const range of ranges) {
      const key = partitionKey(range);
      this.starts.set(key, range.start);
      this.ends.set(key, range.end);
      this.committed.set(key, range.start);
    }
    this.checkDone();
  }

  /** Events in all the ranges. */
  get total(): number {
    let total = 0n;
    for (const [key, end] of this.ends) total += end - this.starts.get(key)!;
    return Number(total);
  }

  wrap(consumer: ConsumerTransport): ConsumerTransport {
    return {
      run: (subscription, handlers) =>
        consumer.run(subscription, {
          ...handlers,
          onBatch: async (batch) => {
            const key = partitionKey(batch);
            const end = this.ends.get(key) ?? 0n;
            const inside = batch.records.filter((record) => BigInt(record.offset) < end);
            const taken = await handlers.onBatch(
              inside.length === batch.records.length ? batch : { ...batch, records: inside },
            );
            const last = inside[Math.min(taken, inside.length) - 1];
            if (last) this.handedUpTo.set(key, BigInt(last.offset) + 1n);
            if (taken < inside.length) return taken;
            // A record past the range came: offsets below the end that never came (compacted
            // away, transaction markers) never will, so the range ends at what was handed over.
            if (inside.length < batch.records.length) this.endAtHandedOver(key);
            // The rest lies past the range: taken as well, so that it is never fetched again.
            return batch.records.length;
          },
        }),
      commit: async (offsets: TopicPartitionOffset[]) => {
        await consumer.commit(offsets);
        for (const { topic, partition, offset } of offsets) {
          const key = partitionKey({ topic, partition });
          const position = BigInt(offset);
          if (position > (this.committed.get(key) ?? 0n)) this.committed.set(key, position);
        }
        this.checkDone();
      },
      pauseAll: () => consumer.pauseAll(),
      disconnect: () => consumer.disconnect(),
    };
  }

  private endAtHandedOver(key: string): void {
    const handed = this.handedUpTo.get(key) ?? this.starts.get(key)!;
    if (handed < this.ends.get(key)!) this.ends.set(key, handed);
    this.checkDone();
  }

  private checkDone(): void {
    let answered = 0n;
    let open = false;
    for (const [key, end] of this.ends) {
      const position = this.committed.get(key)!;
      if (position < end) open = true;
      answered += (position < end ? position : end) - this.starts.get(key)!;
    }
    this.onProgress(Number(answered));
    if (!open) this.markDone();
  }
}
