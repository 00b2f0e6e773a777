/**
 * W3C traceparent arithmetic: the output continues the input's trace (same trace id and flags, a
 * new span id); invalid or absent input trace context gives none.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  childTraceParent,
  formatTraceParent,
  parseTraceParent,
} from '../../src/pipeline/trace-context.js';

const INPUT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('trace context', () => {
  test('parses the spec example', () => {
    assert.deepEqual(parseTraceParent(INPUT), {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      flags: '01',
    });
    assert.equal(formatTraceParent(parseTraceParent(Buffer.from(INPUT))!), INPUT);
  });

  test('a child keeps the trace id and flags, with a new span id', () => {
    const child = childTraceParent(Buffer.from(INPUT))!;
    const parsed = parseTraceParent(child)!;
    assert.equal(parsed.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(parsed.flags, '01');
    assert.match(parsed.spanId, /^[0-9a-f]{16}$/);
    assert.notEqual(parsed.spanId, '00f067aa0ba902b7');
    assert.notEqual(childTraceParent(INPUT), child, 'each output its own span');
  });

  test('invalid trace context is not continued', () => {
    for (const bad of [
      undefined,
      '',
      'garbage',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // forbidden version
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero span id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', // v00 has four fields
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', // short trace id
    ]) {
      assert.equal(childTraceParent(bad), undefined, String(bad));
    }
  });

  test('a later version with extra fields is read as version 00', () => {
    const child = childTraceParent(`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz`);
    assert.match(child!, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  });
});
