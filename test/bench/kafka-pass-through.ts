/**
 * A pass-through peer written here for the benchmark (it is not part of the worker): the least a
 * kafkajs pipeline with the worker's delivery promise must do, with NO decoding and NO inference.
 * Per fetched batch: sendBatch of the batch's messages (key, value, headers unchanged) to the
 * output topic with acks=-1, then commitOffsets past the batch once that is acknowledged.
 * Consumer and producer are configured like the worker's (autoCommit off, one partition at a
 * time, 500 ms fetch wait, murmur2 default partitioner, no idempotence, no compression), so the
 * difference between the two is what the worker does beyond moving bytes.
 */
import { Partitioners } from 'kafkajs';
import { testKafka } from '../helpers/kafka-test-helpers.js';

export interface PassThroughTopics {
  input: string;
  output: string;
  groupId: string;
}

export interface RunningPassThrough {
  /** Date.now() when the consumer joined its group (fetching starts right after). */
  joinedAt: Promise<number>;
  stop(): Promise<void>;
}

export async function startPassThrough(topics: PassThroughTopics): Promise<RunningPassThrough> {
  const kafka = testKafka({ clientId: 'bench-pass-through' });
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer = kafka.consumer({
    groupId: topics.groupId,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
  });
  let joined: (at: number) => void = () => undefined;
  const joinedAt = new Promise<number>((resolve) => (joined = resolve));
  consumer.on(consumer.events.GROUP_JOIN, () => joined(Date.now()));

  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [topics.input], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
      if (batch.messages.length === 0 || !isRunning() || isStale()) return;
      await producer.sendBatch({
        acks: -1,
        topicMessages: [
          {
            topic: topics.output,
            messages: batch.messages.map(({ key, value, headers }) => ({ key, value, headers })),
          },
        ],
      });
      const next = String(Number(batch.lastOffset()) + 1);
      await consumer.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: next },
      ]);
      await heartbeat();
    },
  });
  return {
    joinedAt,
    async stop() {
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}
