/**
 * FlowControl: a lane may accept while it and the whole worker are under their in-flight caps;
 * waitForRoom resolves on the next release() or after its timeout, whichever comes first.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowControl } from '../../src/pipeline/flow-control.js';
import type { PartitionLane } from '../../src/pipeline/partition-lane.js';
import { laneEvent, quietLane, settlePrediction } from '../helpers/test-lanes.js';

function laneWithInFlight(count: number): PartitionLane {
  const lane = quietLane();
  for (let i = 0; i < count; i++) lane.accept(laneEvent(lane, i));
  return lane;
}

describe('FlowControl.room', () => {
  const flow = new FlowControl({ maxInFlightPerPartition: 3, maxInFlightTotal: 10 });

  test('under both caps', () => {
    assert.equal(flow.room(laneWithInFlight(0), 0), 3);
    assert.equal(flow.room(laneWithInFlight(2), 9), 1);
  });

  test('the partition cap is exclusive', () => {
    assert.equal(flow.room(laneWithInFlight(3), 3), 0);
    assert.equal(flow.room(laneWithInFlight(4), 4), 0);
  });

  test('the total cap is exclusive', () => {
    assert.equal(flow.room(laneWithInFlight(0), 10), 0);
    assert.equal(flow.room(laneWithInFlight(1), 11), 0);
  });

  test('events being produced still count against the partition cap until acknowledged', () => {
    const lane = quietLane();
    const events = [0, 1, 2].map((offset) => laneEvent(lane, offset));
    events.forEach((event) => lane.accept(event));
    const limited = new FlowControl({ maxInFlightPerPartition: 3, maxInFlightTotal: 100 });
    assert.equal(lane.takeReady(10), undefined, 'incomplete events are not taken');
    events.forEach(settlePrediction);
    const sending = lane.takeReady(10)!;
    assert.equal(sending.events.length, 3, 'none queued, three sending');
    assert.equal(lane.inFlight, 3);
    assert.equal(limited.room(lane, 3), 0, 'sending events still hold their slots');
    sending.ack();
    assert.equal(lane.inFlight, 0);
    assert.equal(limited.room(lane, 0), 3);
  });
});

describe('FlowControl.waitForRoom', () => {
  test('resolves on release() long before its timeout', async () => {
    const flow = new FlowControl({ maxInFlightPerPartition: 1, maxInFlightTotal: 1 });
    const started = performance.now();
    const waiting = flow.waitForRoom(5_000);
    setTimeout(() => flow.released(), 20);
    await waiting;
    const waited = performance.now() - started;
    assert.ok(waited >= 15 && waited < 1_000, `woke after ${waited.toFixed(0)} ms`);
  });

  test('resolves after the timeout when nothing is released', async () => {
    const flow = new FlowControl({ maxInFlightPerPartition: 1, maxInFlightTotal: 1 });
    const started = performance.now();
    await flow.waitForRoom(30);
    const waited = performance.now() - started;
    assert.ok(waited >= 25 && waited < 1_000, `timed out after ${waited.toFixed(0)} ms`);
  });

  test('one release wakes every waiter', async () => {
    const flow = new FlowControl({ maxInFlightPerPartition: 1, maxInFlightTotal: 1 });
    const woken: number[] = [];
    const waiters = [0, 1, 2].map((i) => flow.waitForRoom(5_000).then(() => woken.push(i)));
    await sleep(5);
    assert.deepEqual(woken, []);
    flow.released();
    await Promise.all(waiters);
    assert.deepEqual(woken.sort(), [0, 1, 2]);
  });

  test('release with nobody waiting is harmless; a later waiter still waits', async () => {
    const flow = new FlowControl({ maxInFlightPerPartition: 1, maxInFlightTotal: 1 });
    flow.released();
    let done = false;
    const waiting = flow.waitForRoom(5_000).then(() => (done = true));
    await sleep(20);
    assert.equal(done, false, 'an earlier release does not satisfy a later wait');
    flow.released();
    await waiting;
    assert.equal(done, true);
  });

  test('a timed-out waiter is forgotten; a woken waiter is not woken twice', async () => {
    const flow = new FlowControl({ maxInFlightPerPartition: 1, maxInFlightTotal: 1 });
    await flow.waitForRoom(5);
    await (async () => {
      const waiting = flow.waitForRoom(5_000);
      flow.released();
      await waiting;
    })();
    const internal = flow as unknown as { waiters: unknown[] };
    assert.equal(internal.waiters.length, 0, 'no waiter left behind');
    flow.released(); // must not throw
  });

  test('a released waiter does not keep its timer alive', async () => {
    const timers = (): number =>
      process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
    const flow = new FlowControl({ maxInFlightPerPartition: 1, maxInFlightTotal: 1 });
    const before = timers();
    const waiting = flow.waitForRoom(60_000);
    assert.equal(timers(), before + 1, 'waiting arms one timer');
    flow.released();
    await waiting;
    assert.equal(timers(), before, 'the release cleared it');
  });
});
