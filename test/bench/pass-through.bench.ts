/**
 * Section 2: the pass-through peer (kafka-pass-through.ts) draining N pre-filled fraud events:
 * events/s from joining the group until the group's committed offsets reach the end offsets.
 */
import { fraudEvent } from '../helpers/sample-events.js';
import { jsonMessage } from '../helpers/pipeline-fixture.js';
import { markdownTable, fmt, progress } from './bench-table.js';
import { waitUntilCommitted } from './drain-timer.js';
import { startPassThrough } from './kafka-pass-through.js';
import { prefilledInput, removePipeline, INPUT_PARTITIONS } from './prefilled-input.js';

export interface DrainMeasurement {
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

export async function benchPassThrough(
  events: number,
  timeoutMs: number,
): Promise<DrainMeasurement> {
  const messages = Array.from({ length: events }, (_, i) => jsonMessage(fraudEvent(i)));
  const { topics, end } = await prefilledInput('bench-pass', messages);
  try {
    progress(`pass-through peer draining ${events} events`);
    const peer = await startPassThrough(topics);
    try {
      const doneAt = await waitUntilCommitted(topics.groupId, topics.input, end, timeoutMs);
      const seconds = (doneAt - (await peer.joinedAt)) / 1000;
      return { events, seconds, eventsPerSecond: events / seconds };
    } finally {
      await peer.stop();
    }
  } finally {
    await removePipeline(topics);
  }
}

export function passThroughTable(result: DrainMeasurement): string {
  return markdownTable(
    ['pipeline', 'input partitions', 'events', 'seconds', 'events/s'],
    [
      [
        'kafkajs pass-through peer (no decode, no inference)',
        INPUT_PARTITIONS,
        fmt(result.events),
        fmt(result.seconds, 2),
        fmt(result.eventsPerSecond),
      ],
    ],
  );
}
