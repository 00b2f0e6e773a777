/**
 * The client library in three patterns against a running worker (see README, "Client library"):
 * produce events, read predictions as they come, and ask for one synchronously.
 *
 *   BROKERS=127.0.0.1:9092 INPUT_TOPIC=transactions OUTPUT_TOPIC=fraud-predictions \
 *   REPLY_TOPIC=fraud-replies-$USER npx tsx examples/client-quickstart.ts
 *
 * The worker must allow the reply topic (replies.allowedTopics) and the topics must exist.
 */
import {
  createEventProducer,
  createPredictionClient,
  InvalidEventError,
  subscribePredictions,
} from 'kafka-inference-worker/client';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
};
const brokers = env('BROKERS');
const model = process.env.MODEL ?? 'models/fraud-mlp/1';
const transaction = (id: string, amount: number) => ({
  id,
  amount,
  hour_of_day: 14,
  account_age_days: 400,
  channel: 'web',
});

// 1. Stream predictions as they are written.
let received = 0;
const subscription = await subscribePredictions(
  {
    brokers,
    topic: env('OUTPUT_TOPIC'),
    groupId: `quickstart-${process.pid}`,
    fromBeginning: true,
  },
  (prediction) => {
    received++;
    console.log(
      `prediction ${prediction.key}: ${prediction.label} (${prediction.confidence?.toFixed(3)}) by v${prediction.modelVersion}`,
    );
  },
);

// 2. Produce events; an event the model would refuse fails here, not in the dead-letter topic.
const producer = await createEventProducer({ brokers, topic: env('INPUT_TOPIC'), model });
await producer.send(transaction('quickstart-1', 42.5));
await producer.sendMany([
  { event: transaction('quickstart-2', 980) },
  { event: transaction('quickstart-3', 7) },
]);
try {
  await producer.send({ id: 'quickstart-bad', hour_of_day: 3 });
} catch (error) {
  if (error instanceof InvalidEventError) console.log(`refused before sending: ${error.message}`);
  else throw error;
}
await producer.close();

// 3. Request/reply: wait for this event's own prediction.
const client = await createPredictionClient({
  brokers,
  topic: env('INPUT_TOPIC'),
  replyTopic: env('REPLY_TOPIC'),
  model,
});
const started = performance.now();
const answer = await client.predict(transaction('quickstart-request', 1250), { timeoutMs: 10_000 });
console.log(
  `reply for ${answer.key}: ${answer.label} (${answer.confidence?.toFixed(3)}) in ${(performance.now() - started).toFixed(1)} ms, correlation ${answer.correlationId}`,
);
await client.close();

while (received < 4) await new Promise((resolve) => setTimeout(resolve, 100));
await subscription.close();
console.log(`done: ${received} predictions streamed`);
