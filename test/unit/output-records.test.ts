/**
 * A prediction's headers: the provenance headers kafka.predictionHeaders chooses (all six by
 * default, none at all when the list is empty), and the input's trace context continued either way.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InFlightEvent } from '../../src/pipeline/in-flight-event.js';
import { headerSelection, predictionHeaders } from '../../src/pipeline/output-records.js';
import type { PartitionLane } from '../../src/pipeline/partition-lane.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const model = { name: 'fraud-mlp', version: '3', provider: 'cpu' };

function event(headers: InFlightEvent['headers'] = {}): InFlightEvent {
  return {
    lane: {} as PartitionLane,
    topic: 'payments',
    partition: 4,
    offset: '1234',
    key: null,
    value: Buffer.from('{}'),
    headers,
    timestamp: 0,
    acceptedAt: 0,
  };
}

describe('prediction headers', () => {
  test('all six provenance headers by default, with their values', () => {
    assert.deepEqual(predictionHeaders(event(), model), {
      'source.topic': 'payments',
      'source.partition': '4',
      'source.offset': '1234',
      'model.name': 'fraud-mlp',
      'model.version': '3',
      'model.provider': 'cpu',
    });
  });

  test('only the chosen ones, in any order of choice', () => {
    const chosen = headerSelection(['model.version', 'source.offset']);
    assert.deepEqual(predictionHeaders(event(), model, chosen), {
      'source.offset': '1234',
      'model.version': '3',
    });
  });

  test('none chosen: no provenance header, but the trace context is still continued', () => {
    const headers = predictionHeaders(
      event({ traceparent: Buffer.from(TRACEPARENT), tracestate: Buffer.from('vendor=x') }),
      model,
      headerSelection([]),
    );
    assert.deepEqual(Object.keys(headers).sort(), ['traceparent', 'tracestate']);
    assert.match(
      String(headers.traceparent),
      /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/,
    );
    assert.notEqual(headers.traceparent, TRACEPARENT, 'a child span, not a copy');
  });
});
