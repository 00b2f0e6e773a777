/**
 * PartitionLane, the ledger of one partition: outputs leave strictly in offset order (only the
 * completed contiguous head is taken), a dispatch's ack moves the commit offset to its last
 * offset + 1 and tells the listener, settling outcomes tells the listener once a turn that the
 * head may be ready, re-deliveries are recognised, inFlight counts queued and sending events,
 * revoke drops what is queued and aborts the lane's signal, and a send given up stops the lane
 * before it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PoisonInputError } from '../../src/errors.js';
import type { InFlightEvent } from '../../src/pipeline/in-flight-event.js';
import {
  PartitionLane,
  laneKey,
  type LaneDispatch,
  type LaneListener,
} from '../../src/pipeline/partition-lane.js';
import { laneEvent, settlePrediction } from '../helpers/test-lanes.js';

/** Records what a lane tells its listener. */
class RecordingListener implements LaneListener {
  headChecks = 0;
  acknowledgedOffsets: string[][] = [];
  headReady(): void {
    this.headChecks++;
  }
  acknowledged(_lane: PartitionLane, events: InFlightEvent[]): void {
    this.acknowledgedOffsets.push(offsetsOf(events));
  }
}

function newLane(withShadow = false, listener: LaneListener = new RecordingListener()) {
  return new PartitionLane('in', 3, withShadow, listener);
}

const event = (offset: number | string, lane = newLane()): InFlightEvent => laneEvent(lane, offset);
const complete = settlePrediction;

function laneWith(...offsets: number[]): {
  lane: PartitionLane;
  events: InFlightEvent[];
  listener: RecordingListener;
} {
  const listener = new RecordingListener();
  const lane = newLane(false, listener);
  const events = offsets.map((offset) => event(offset, lane));
  events.forEach((e) => lane.accept(e));
  return { lane, events, listener };
}

const offsetsOf = (events: InFlightEvent[]): string[] => events.map((e) => e.offset);
/** The offsets a takeReady dispatch carries; [] when nothing was ready. */
const taken = (dispatch: LaneDispatch | undefined): string[] =>
  dispatch ? offsetsOf(dispatch.events) : [];
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('PartitionLane', () => {
  test('key is topic/partition', () => {
    assert.equal(newLane().key, 'in/3');
    assert.equal(laneKey('a.b', 0), 'a.b/0');
  });

  test('takeReady takes nothing while the head is not complete', () => {
    const { lane, events } = laneWith(10, 11, 12);
    complete(events[1]!);
    complete(events[2]!);
    assert.equal(lane.takeReady(100), undefined);
    assert.equal(lane.inFlight, 3);
  });

  test('takeReady takes only the completed contiguous head', () => {
    const { lane, events } = laneWith(10, 11, 12, 13, 14);
    complete(events[0]!);
    complete(events[1]!);
    complete(events[3]!); // 12 is still pending: 13 must wait
    assert.deepEqual(taken(lane.takeReady(100)), ['10', '11']);
    assert.equal(lane.takeReady(100), undefined, '12 blocks 13');
    complete(events[2]!);
    assert.deepEqual(taken(lane.takeReady(100)), ['12', '13']);
    complete(events[4]!);
    assert.deepEqual(taken(lane.takeReady(100)), ['14']);
  });

  test('takeReady stops at the byte budget, but always takes the first ready event', () => {
    const { lane, events } = laneWith(10, 11, 12, 13);
    events.forEach(complete);
    const sizeOf = (e: InFlightEvent): number => (e.offset === '10' ? 900 : 300);
    assert.deepEqual(taken(lane.takeReady(100, 500, sizeOf)), ['10'], 'over budget alone');
    assert.deepEqual(taken(lane.takeReady(100, 700, sizeOf)), ['11', '12']);
    assert.deepEqual(taken(lane.takeReady(1, 700, sizeOf)), ['13'], 'the count cap holds too');
  });

  test('with a shadow version, an event also waits for the shadow before leaving', () => {
    const lane = newLane(true);
    const events = [0, 1, 2].map((offset) => event(offset, lane));
    events.forEach((e) => lane.accept(e));
    events.forEach(complete);
    assert.equal(lane.takeReady(10), undefined, 'no shadow result yet');
    lane.settleShadow(events[0]!, 'none');
    lane.settleShadow(events[2]!, {
      prediction: { kind: 'regression', value: 1 },
      model: { name: 'm', version: '2', provider: 'cpu' },
    });
    assert.deepEqual(taken(lane.takeReady(10)), ['0'], '1 still waits for its shadow');
    lane.settleShadow(events[1]!, 'none');
    assert.deepEqual(taken(lane.takeReady(10)), ['1', '2']);
  });

  test('dead-letter outcomes count as complete', () => {
    const { lane, events } = laneWith(0, 1);
    lane.deadLetter(events[0]!, new PoisonInputError('decode', 'bad'));
    complete(events[1]!);
    assert.deepEqual(taken(lane.takeReady(10)), ['0', '1']);
  });

  test('takeReady respects its limit', () => {
    const { lane, events } = laneWith(0, 1, 2, 3, 4);
    events.forEach(complete);
    assert.deepEqual(taken(lane.takeReady(2)), ['0', '1']);
    assert.deepEqual(taken(lane.takeReady(2)), ['2', '3']);
    assert.deepEqual(taken(lane.takeReady(2)), ['4']);
    assert.equal(lane.takeReady(0), undefined);
  });

  test('inFlight counts queued plus sending until acknowledged', () => {
    const { lane, events } = laneWith(0, 1, 2, 3);
    assert.equal(lane.inFlight, 4);
    complete(events[0]!);
    complete(events[1]!);
    const sent = lane.takeReady(10)!;
    assert.equal(lane.inFlight, 4, 'two queued + two sending');
    sent.ack();
    assert.equal(lane.inFlight, 2);
  });

  test('acknowledged sets commitOffset to the last offset + 1', () => {
    const { lane, events, listener } = laneWith(41, 42, 43);
    assert.equal(lane.commitOffset, undefined);
    events.forEach(complete);
    const first = lane.takeReady(2)!;
    assert.equal(lane.commitOffset, undefined, 'taken is not acknowledged');
    first.ack();
    assert.equal(lane.commitOffset, '43');
    lane.takeReady(10)!.ack();
    assert.equal(lane.commitOffset, '44');
    assert.equal(lane.inFlight, 0);
    assert.deepEqual(listener.acknowledgedOffsets, [['41', '42'], ['43']], 'the listener heard');
  });

  test('a dispatch ends once: a second ending is a bug, and throws', () => {
    const { lane, events } = laneWith(5);
    complete(events[0]!);
    const dispatch = lane.takeReady(1)!;
    dispatch.ack();
    assert.equal(lane.commitOffset, '6');
    assert.throws(() => dispatch.ack(), /ended twice/);
    assert.throws(() => dispatch.unsent(), /ended twice/);
    assert.equal(lane.commitOffset, '6');
    assert.equal(lane.inFlight, 0);
  });

  test('settling tells the listener once a turn, never for a revoked lane', async () => {
    const { lane, events, listener } = laneWith(0, 1, 2);
    events.forEach(complete);
    assert.equal(listener.headChecks, 0, 'told at the end of the turn, not per outcome');
    await turn();
    assert.equal(listener.headChecks, 1, 'three outcomes, one look at the head');
    const { lane: other, events: more, listener: otherListener } = laneWith(0);
    other.revoke();
    complete(more[0]!);
    await turn();
    assert.equal(otherListener.headChecks, 0);
    assert.equal(lane.inFlight, 3);
  });

  test('unsent puts the events back at the head, in order; an abort rewinds what was written', async () => {
    const { lane, events, listener } = laneWith(0, 1, 2, 3);
    events.forEach(complete);
    await turn();
    lane.takeReady(2)!.unsent();
    assert.deepEqual(taken(lane.takeReady(10)), ['0', '1', '2', '3']);
    const { lane: eos, events: written, listener: eosListener } = laneWith(0, 1, 2);
    written.forEach(complete);
    await turn();
    eos.takeReady(2)!.written();
    assert.equal(eos.transactionOffset, '2');
    eos.transactionAborted();
    await turn();
    assert.equal(eosListener.headChecks, 2, 'the abort looks at the head again');
    assert.deepEqual(taken(eos.takeReady(10)), ['0', '1', '2']);
    assert.equal(listener.acknowledgedOffsets.length, 0);
  });

  test('exactly-once: a commit makes what was written done, and tells the listener', () => {
    const { lane, events, listener } = laneWith(7, 8, 9);
    events.forEach(complete);
    lane.takeReady(2)!.written();
    assert.equal(lane.inFlight, 3, 'written is still in flight until the commit');
    lane.transactionCommitted();
    assert.deepEqual(listener.acknowledgedOffsets, [['7', '8']]);
    assert.equal(lane.inFlight, 1);
    assert.equal(lane.transactionOffset, undefined);
    lane.transactionCommitted();
    assert.equal(listener.acknowledgedOffsets.length, 1, 'nothing written: nothing to tell');
  });

  test('a dispatch may dead-letter one of its events in place of its output', () => {
    const { lane, events } = laneWith(0, 1);
    events.forEach(complete);
    const dispatch = lane.takeReady(10)!;
    const error = new PoisonInputError('encode', 'no fit');
    dispatch.deadLetter(events[1]!, error);
    assert.deepEqual(events[1]!.outcome, { type: 'dead-letter', error });
    assert.equal(events[1]!.shadow, 'none');
    assert.equal(events[0]!.outcome?.type, 'prediction');
  });

  test('offsets beyond 2^53 keep their precision', () => {
    const big = '9007199254740993'; // 2^53 + 1
    const lane = newLane();
    const e = event(big, lane);
    lane.accept(e);
    complete(e);
    lane.takeReady(1)!.ack();
    assert.equal(lane.commitOffset, '9007199254740994');
    assert.equal(lane.alreadyAccepted(big), true);
    assert.equal(lane.alreadyAccepted('9007199254740994'), false);
  });

  test('alreadyAccepted: offsets below the next expected one are re-deliveries', () => {
    const lane = newLane();
    assert.equal(lane.alreadyAccepted('0'), false, 'nothing accepted yet');
    lane.accept(event(100, lane));
    lane.accept(event(101, lane));
    assert.equal(lane.nextOffset, 102n);
    assert.equal(lane.alreadyAccepted('0'), true);
    assert.equal(lane.alreadyAccepted('100'), true);
    assert.equal(lane.alreadyAccepted('101'), true);
    assert.equal(lane.alreadyAccepted('102'), false);
    assert.equal(lane.alreadyAccepted('500'), false);
  });

  test('alreadyAccepted still holds after the events were produced and acknowledged', () => {
    const { lane, events } = laneWith(7, 8);
    events.forEach(complete);
    lane.takeReady(10)!.ack();
    assert.equal(lane.alreadyAccepted('8'), true);
    assert.equal(lane.alreadyAccepted('9'), false);
  });

  test('revoke drops the queued events, keeps counting those being sent', () => {
    const { lane, events } = laneWith(0, 1, 2, 3, 4);
    complete(events[0]!);
    complete(events[1]!);
    const sending = lane.takeReady(10)!;
    assert.equal(lane.revoked, false);
    assert.equal(lane.revokedSignal.aborted, false);
    assert.equal(lane.revoke(), 3);
    assert.equal(lane.revoked, true);
    assert.equal(lane.revokedSignal.aborted, true, 'waits and retries for the lane end');
    assert.equal(lane.inFlight, 2, 'the two being produced are still in flight');
    complete(events[2]!);
    assert.equal(lane.takeReady(10), undefined, 'dropped events never leave');
    sending.ack();
    assert.equal(lane.inFlight, 0);
    assert.equal(lane.revoke(), 0);
  });

  test('exactly-once: a revoked lane keeps what the open transaction wrote, with its offset', () => {
    const { lane, events } = laneWith(0, 1, 2, 3);
    events.forEach(complete);
    lane.takeReady(2)!.written();
    assert.equal(lane.revoke(), 2, 'the two not yet written are dropped');
    assert.equal(lane.takeReady(10), undefined, 'nothing more is taken');
    assert.equal(lane.transactionOffset, '2', 'the written outputs commit with their offset');
    lane.transactionAborted();
    assert.equal(lane.inFlight, 0, 'aborted after revocation: dropped, the next owner redoes them');
    assert.equal(lane.transactionOffset, undefined);
    assert.equal(lane.takeReady(10), undefined);
  });

  test('a send given up freezes the commit offset before it: nothing after it is sent', () => {
    const { lane, events } = laneWith(0, 1, 2, 3, 4);
    events.forEach(complete);
    lane.takeReady(2)!.ack();
    assert.equal(lane.commitOffset, '2');
    const failed = lane.takeReady(1)!;
    assert.equal(failed.gaveUp(), 2, 'the two queued behind it are dropped');
    assert.equal(lane.accepting, false);
    assert.equal(lane.inFlight, 0);
    assert.equal(lane.takeReady(10), undefined, 'no later event leaves');
    assert.equal(lane.commitOffset, '2', 'still committable: what was acknowledged before');
  });

  test('one send at a time: a claim during a send makes its end look again; none once revoked', () => {
    const lane = newLane();
    assert.equal(lane.beginFlush(), true);
    assert.equal(lane.endFlush(), false, 'nobody asked meanwhile');
    assert.equal(lane.beginFlush(), true);
    assert.equal(lane.beginFlush(), false, 'a send is under way');
    assert.equal(lane.beginFlush(), false);
    assert.equal(lane.endFlush(), true, 'outcomes arrived during the send: no wake-up is lost');
    assert.equal(lane.beginFlush(), true);
    assert.equal(lane.beginFlush(), false);
    lane.revoke();
    assert.equal(lane.endFlush(), false, 'a revoked lane is not looked at again');
    assert.equal(lane.beginFlush(), false, 'a revoked lane sends nothing');
  });
});
