/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) for the output of an event: the input's
 * `traceparent` is continued, not copied. The prediction is a child span of the input's: same
 * trace id, a new span id, the flags kept; `tracestate` travels unchanged. Without a valid input
 * traceparent, none is started: the output carries none (no header to pay for per event).
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);

const ZERO_SPAN = '0'.repeat(16);

export interface TraceParent {
  traceId: string;
  /** The span this header names (for an input: the producer's span, our parent). */
  spanId: string;
  flags: string;
}

/** Parses a traceparent header; undefined when it is absent or invalid (version ff, zero ids). */
export function parseTraceParent(header: Buffer | string | undefined): TraceParent | undefined {
  if (header === undefined) return undefined;
  const match = TRACEPARENT.exec(header.toString().trim().toLowerCase());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  // Version 00 has exactly four fields; a later version may append more, which are ignored.
  if (version === '00' && rest !== undefined) return undefined;
  return { traceId: traceId!, spanId: spanId!, flags: flags! };
}

export function formatTraceParent({ traceId, spanId, flags }: TraceParent): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

/**
 * A new span id: 64 random bits, never all zero. Unique, not secret (like OpenTelemetry's own
 * generator), so Math.random serves and costs no system call per event.
 */
export function newSpanId(): string {
  for (;;) {
    const id = hex32() + hex32();
    if (id !== ZERO_SPAN) return id;
  }
}

function hex32(): string {
  return Math.floor(Math.random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, '0');
}

/**
 * The output's traceparent: a child of the input's span (same trace id and flags, a new span id),
 * or undefined when the input carries no valid one.
 */
export function childTraceParent(input: Buffer | string | undefined): string | undefined {
  const parent = parseTraceParent(input);
  return parent && formatTraceParent({ ...parent, spanId: newSpanId() });
}
