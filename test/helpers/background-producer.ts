import { Partitioners } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { testKafka } from './kafka-client.js';
import { jsonMessage } from './pipeline-fixture.js';

/**
 * Produces events 0..count-1 at about `ratePerSecond` in the background, so that faults happen
 * mid-stream. `done` resolves with the count once all are acknowledged.
 */
export function produceInBackground(
  topic: string,
  count: number,
  ratePerSecond: number,
  eventAt: (i: number) => { id: string },
): { done: Promise<number>; produced: () => number } {
  let produced = 0;
  const done = (async () => {
    const producer = testKafka().producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const chunk = Math.max(1, Math.floor(ratePerSecond / 20));
    const started = Date.now();
    try {
      while (produced < count) {
        const size = Math.min(chunk, count - produced);
        const messages = Array.from({ length: size }, (_, k) => jsonMessage(eventAt(produced + k)));
        await producer.send({ topic, acks: -1, messages });
        produced += size;
        const ahead = (produced / ratePerSecond) * 1000 - (Date.now() - started);
        if (ahead > 0) await sleep(ahead);
      }
    } finally {
      await producer.disconnect();
    }
    return produced;
  })();
  return { done, produced: () => produced };
}
