/**
 * ServingVersion.retire after a hot swap: an event routed to the old version before the swap but
 * still being admitted (its Avro schema resolving) must still be batched and run on that version before its sessions close.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedModel } from '../../src/model/loaded-model.js';
import type { InFlightEvent } from '../../src/pipeline/in-flight-event.js';
import { ServingVersion, type PendingRow } from '../../src/pipeline/serving-version.js';

function fakeModel() {
  const state = { closed: 0 };
  const model = {
    identity: { name: 'm', version: '1', provider: 'cpu' },
    featurizer: { width: 1 },
    close: async () => {
      state.closed++;
    },
  } as unknown as LoadedModel;
  return { model, state };
}

function row(offset: number): PendingRow {
  const event = { topic: 't', partition: 0, offset: String(offset) } as InFlightEvent;
  return { event, role: 'primary', format: 0, countQuality: true };
}

describe('ServingVersion', () => {
  test('retire waits for reserved rows and running batches, then closes once', async () => {
    const { model, state } = fakeModel();
    const seen: string[][] = [];
    const version = new ServingVersion(
      model,
      { maxBatchSize: 10, maxBatchDelayMs: 10_000, padToPreferredBatchSize: false },
      async (_, batch) => {
        await sleep(20);
        seen.push(batch.map((r) => r.event.offset));
      },
    );
    version.reserve();
    version.reserve();
    version.add(row(1));
    let retired = false;
    const retiring = version.retire().then(() => (retired = true));
    await sleep(50);
    assert.equal(retired, false, 'a reserved row is still on its way');
    assert.equal(state.closed, 0);
    version.add(row(2)); // its schema resolved after the swap
    await retiring;
    assert.deepEqual(seen.flat().sort(), ['1', '2'], 'both rows ran on the retiring version');
    assert.equal(state.closed, 1);
  });

  test('a released reservation (bad input) does not hold retirement', async () => {
    const { model, state } = fakeModel();
    const version = new ServingVersion(
      model,
      { maxBatchSize: 10, maxBatchDelayMs: 5, padToPreferredBatchSize: false },
      async () => {},
    );
    version.reserve();
    const retiring = version.retire();
    version.release();
    await retiring;
    assert.equal(state.closed, 1);
  });
});
