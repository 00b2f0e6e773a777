import {
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Span,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  TracerProvider,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import type { RecordHeaders } from '../kafka/transport.js';
import { formatTraceParent } from '../pipeline/trace-context.js';

/** Where an event is: what the spans are named after. */
export interface TracedEvent {
  topic: string;
  partition: number;
  offset: string;
  headers: RecordHeaders;
}

const propagator = new W3CTraceContextPropagator();
const headerGetter: TextMapGetter<RecordHeaders> = {
  keys: (headers) => Object.keys(headers),
  get: (headers, key) => headers[key]?.toString(),
};

/**
 * OpenTelemetry spans for each event: a consumer span "process <topic>" (a child of the input's
 * traceparent, or a new trace) with children "decode" (decode and featurize), "inference" (its
 * batch's size as an attribute) and "produce" (until the broker acknowledged). The outputs carry
 * the process span as their traceparent. Built only when configured: with no endpoint there is no
 * tracer, and the pipeline pays one undefined check per stage.
 */
export class EventTracing {
  private constructor(
    private readonly tracer: Tracer,
    private readonly provider: TracerProvider,
  ) {}

  /** Spans exported in batches to an OTLP/HTTP endpoint. */
  static toEndpoint(endpoint: string, serviceName: string): EventTracing {
    const exporter = new OTLPTraceExporter({ url: endpoint });
    return EventTracing.create(new BatchSpanProcessor({ exporter }), serviceName);
  }

  /** Spans exported one by one to `exporter` (tests: an InMemorySpanExporter). */
  static withExporter(exporter: SpanExporter, serviceName: string): EventTracing {
    return EventTracing.create(new SimpleSpanProcessor({ exporter }), serviceName);
  }

  private static create(
    processor: BatchSpanProcessor | SimpleSpanProcessor,
    serviceName: string,
  ): EventTracing {
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': serviceName }),
      spanProcessors: [processor],
    });
    return new EventTracing(provider.getTracer('kafka-inference-worker'), provider);
  }

  /** The event's span, continuing the input's trace context when it carries one. */
  startEvent(event: TracedEvent): Span {
    const parent = propagator.extract(ROOT_CONTEXT, event.headers, headerGetter);
    return this.tracer.startSpan(
      `process ${event.topic}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'process',
          'messaging.destination.name': event.topic,
          'messaging.destination.partition.id': String(event.partition),
          'messaging.kafka.offset': Number(event.offset),
        },
      },
      parent,
    );
  }

  /** A finished child span of the event's, from `startedAt` (epoch ms) until now. */
  child(parent: Span, name: string, startedAt: number, attributes: Attributes = {}): void {
    const context = trace.setSpan(ROOT_CONTEXT, parent);
    this.tracer.startSpan(name, { startTime: startedAt, attributes }, context).end();
  }

  /** The traceparent an output carries: the event's span as the parent of what follows. */
  traceparentOf(span: Span): string {
    const { traceId, spanId, traceFlags } = span.spanContext();
    return formatTraceParent({ traceId, spanId, flags: traceFlags.toString(16).padStart(2, '0') });
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
