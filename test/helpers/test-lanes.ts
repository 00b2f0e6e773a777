/** Lanes for the unit tests of the stages that read them (flow control, the offset committer). */
import type { InFlightEvent } from '../../src/pipeline/in-flight-event.js';
import { PartitionLane, type LaneListener } from '../../src/pipeline/partition-lane.js';

/** Hears nothing: for tests that only read the lane. */
export const QUIET_LISTENER: LaneListener = { headReady() {}, acknowledged() {} };

export function quietLane(topic = 'in', partition = 0): PartitionLane {
  return new PartitionLane(topic, partition, false, QUIET_LISTENER);
}

/** An accepted-looking event of `lane` at `offset`, with no outcome yet. */
export function laneEvent(lane: PartitionLane, offset: number | string): InFlightEvent {
  return {
    lane,
    topic: lane.topic,
    partition: lane.partition,
    offset: String(offset),
    key: null,
    value: null,
    headers: {},
    timestamp: 0,
    acceptedAt: 0,
  };
}

/** Settles `event` with a prediction through its lane. */
export function settlePrediction(event: InFlightEvent): void {
  event.lane.settle(event, {
    type: 'prediction',
    prediction: { kind: 'regression', value: Number(event.offset) },
    model: { name: 'm', version: '1', provider: 'cpu' },
  });
}

/** Accepts, answers, takes and acknowledges an event at `lastOffset`: commitOffset = it + 1. */
export function acknowledgeUpTo(lane: PartitionLane, lastOffset: number): void {
  const event = laneEvent(lane, lastOffset);
  lane.accept(event);
  settlePrediction(event);
  lane.takeReady(Infinity)!.ack();
}
