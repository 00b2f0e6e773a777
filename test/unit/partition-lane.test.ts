/**
 * PartitionLane: outputs leave strictly in offset order (only the completed contiguous head is
 * taken), the commit offset is last acknowledged + 1, re-deliveries are recognised, inFlight
 * counts queued and sending events, revoke drops what is queued, and a send given up stops the
 * lane before it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PoisonInputError } from '../../src/errors.js';
import type { InFlightEvent } from '../../src/pipeline/in-flight-event.js';
import { PartitionLane, laneKey } from '../../src/pipeline/partition-lane.js';

function event(offset: number | string): InFlightEvent {
  return {
    lane: new PartitionLane('in', 3),
    topic: 'in',
    partition: 3,
    offset: String(offset),
    key: null,
    value: Buffer.from('{}'),
    headers: {},
    timestamp: 0,
    acceptedAt: 0,
  };
}

function complete(e: InFlightEvent): void {
  e.outcome = {
    type: 'prediction',
    prediction: { kind: 'regression', value: Number(e.offset) },
    model: { name: 'm', version: '1', provider: 'cpu' },
  };
}

function laneWith(...offsets: number[]): { lane: PartitionLane; events: InFlightEvent[] } {
  const lane = new PartitionLane('in', 3);
  const events = offsets.map(event);
  events.forEach((e) => lane.accept(e));
  return { lane, events };
}

const offsetsOf = (events: InFlightEvent[]): string[] => events.map((e) => e.offset);

describe('PartitionLane', () => {
  test('key is topic/partition', () => {
    assert.equal(new PartitionLane('in', 3).key, 'in/3');
    assert.equal(laneKey('a.b', 0), 'a.b/0');
  });

  test('takeReady takes nothing while the head is not complete', () => {
    const { lane, events } = laneWith(10, 11, 12);
    complete(events[1]!);
    complete(events[2]!);
    assert.deepEqual(lane.takeReady(100), []);
    assert.equal(lane.inFlight, 3);
  });

  test('takeReady takes only the completed contiguous head', () => {
    const { lane, events } = laneWith(10, 11, 12, 13, 14);
    complete(events[0]!);
    complete(events[1]!);
    complete(events[3]!); // 12 is still pending: 13 must wait
    assert.deepEqual(offsetsOf(lane.takeReady(100)), ['10', '11']);
    assert.deepEqual(lane.takeReady(100), [], '12 blocks 13');
    complete(events[2]!);
    assert.deepEqual(offsetsOf(lane.takeReady(100)), ['12', '13']);
    complete(events[4]!);
    assert.deepEqual(offsetsOf(lane.takeReady(100)), ['14']);
  });

  test('takeReady stops at the byte budget, but always takes the first ready event', () => {
    const { lane, events } = laneWith(10, 11, 12, 13);
    events.forEach(complete);
    const sizeOf = (e: InFlightEvent): number => (e.offset === '10' ? 900 : 300);
    assert.deepEqual(offsetsOf(lane.takeReady(100, 500, sizeOf)), ['10'], 'over budget alone');
    assert.deepEqual(offsetsOf(lane.takeReady(100, 700, sizeOf)), ['11', '12']);
    assert.deepEqual(offsetsOf(lane.takeReady(1, 700, sizeOf)), ['13'], 'the count cap holds too');
  });

  test('with a shadow version, an event also waits for the shadow before leaving', () => {
    const lane = new PartitionLane('in', 3, true);
    const events = [0, 1, 2].map(event);
    events.forEach((e) => lane.accept(e));
    events.forEach(complete);
    assert.deepEqual(lane.takeReady(10), [], 'no shadow result yet');
    events[0]!.shadow = 'none';
    events[2]!.shadow = {
      prediction: { kind: 'regression', value: 1 },
      model: { name: 'm', version: '2', provider: 'cpu' },
    };
    assert.deepEqual(offsetsOf(lane.takeReady(10)), ['0'], '1 still waits for its shadow');
    events[1]!.shadow = 'none';
    assert.deepEqual(offsetsOf(lane.takeReady(10)), ['1', '2']);
  });

  test('dead-letter outcomes count as complete', () => {
    const { lane, events } = laneWith(0, 1);
    events[0]!.outcome = { type: 'dead-letter', error: new PoisonInputError('decode', 'bad') };
    complete(events[1]!);
    assert.deepEqual(offsetsOf(lane.takeReady(10)), ['0', '1']);
  });

  test('takeReady respects its limit', () => {
    const { lane, events } = laneWith(0, 1, 2, 3, 4);
    events.forEach(complete);
    assert.deepEqual(offsetsOf(lane.takeReady(2)), ['0', '1']);
    assert.deepEqual(offsetsOf(lane.takeReady(2)), ['2', '3']);
    assert.deepEqual(offsetsOf(lane.takeReady(2)), ['4']);
    assert.deepEqual(lane.takeReady(0), []);
  });

  test('inFlight counts queued plus sending until acknowledged', () => {
    const { lane, events } = laneWith(0, 1, 2, 3);
    assert.equal(lane.inFlight, 4);
    complete(events[0]!);
    complete(events[1]!);
    const sent = lane.takeReady(10);
    assert.equal(lane.inFlight, 4, 'two queued + two sending');
    lane.acknowledged(sent);
    assert.equal(lane.inFlight, 2);
  });

  test('acknowledged sets commitOffset to the last offset + 1', () => {
    const { lane, events } = laneWith(41, 42, 43);
    assert.equal(lane.commitOffset, undefined);
    events.forEach(complete);
    const first = lane.takeReady(2);
    lane.acknowledged(first);
    assert.equal(lane.commitOffset, '43');
    lane.acknowledged(lane.takeReady(10));
    assert.equal(lane.commitOffset, '44');
    assert.equal(lane.inFlight, 0);
  });

  test('acknowledging nothing leaves commitOffset alone', () => {
    const { lane, events } = laneWith(5);
    complete(events[0]!);
    lane.acknowledged(lane.takeReady(1));
    assert.equal(lane.commitOffset, '6');
    lane.acknowledged([]);
    assert.equal(lane.commitOffset, '6');
  });

  test('offsets beyond 2^53 keep their precision', () => {
    const big = '9007199254740993'; // 2^53 + 1
    const lane = new PartitionLane('in', 0);
    const e = event(big);
    lane.accept(e);
    complete(e);
    lane.acknowledged(lane.takeReady(1));
    assert.equal(lane.commitOffset, '9007199254740994');
    assert.equal(lane.alreadyAccepted(big), true);
    assert.equal(lane.alreadyAccepted('9007199254740994'), false);
  });

  test('alreadyAccepted: offsets below the next expected one are re-deliveries', () => {
    const lane = new PartitionLane('in', 3);
    assert.equal(lane.alreadyAccepted('0'), false, 'nothing accepted yet');
    lane.accept(event(100));
    lane.accept(event(101));
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
    lane.acknowledged(lane.takeReady(10));
    assert.equal(lane.alreadyAccepted('8'), true);
    assert.equal(lane.alreadyAccepted('9'), false);
  });

  test('revoke drops the queued events, keeps counting those being sent', () => {
    const { lane, events } = laneWith(0, 1, 2, 3, 4);
    complete(events[0]!);
    complete(events[1]!);
    const sending = lane.takeReady(10);
    assert.equal(lane.revoked, false);
    assert.equal(lane.revoke(), 3);
    assert.equal(lane.revoked, true);
    assert.equal(lane.inFlight, 2, 'the two being produced are still in flight');
    complete(events[2]!);
    assert.deepEqual(lane.takeReady(10), [], 'dropped events never leave');
    lane.acknowledged(sending);
    assert.equal(lane.inFlight, 0);
    assert.equal(lane.revoke(), 0);
  });

  test('exactly-once: a revoked lane keeps what the open transaction wrote, with its offset', () => {
    const { lane, events } = laneWith(0, 1, 2, 3);
    events.forEach(complete);
    lane.wroteInTransaction(lane.takeReady(2));
    assert.equal(lane.revoke(), 2, 'the two not yet written are dropped');
    assert.deepEqual(lane.takeReady(10), [], 'nothing more is taken');
    assert.equal(lane.transactionOffset, '2', 'the written outputs commit with their offset');
    lane.transactionAborted();
    assert.equal(lane.inFlight, 0, 'aborted after revocation: dropped, the next owner redoes them');
    assert.equal(lane.transactionOffset, undefined);
    assert.deepEqual(lane.takeReady(10), []);
  });

  test('a send given up freezes the commit offset before it: nothing after it is sent', () => {
    const { lane, events } = laneWith(0, 1, 2, 3, 4);
    events.forEach(complete);
    lane.acknowledged(lane.takeReady(2));
    assert.equal(lane.commitOffset, '2');
    const failed = lane.takeReady(1);
    assert.equal(lane.gaveUp(failed), 2, 'the two queued behind it are dropped');
    assert.equal(lane.accepting, false);
    assert.equal(lane.inFlight, 0);
    assert.deepEqual(lane.takeReady(10), [], 'no later event leaves');
    assert.equal(lane.commitOffset, '2', 'still committable: what was acknowledged before');
  });

  test('one send at a time: a claim during a send makes its end look again; none once revoked', () => {
    const lane = new PartitionLane('in', 3);
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
