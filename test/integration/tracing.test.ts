/**
 * OpenTelemetry spans for one event, exported to an in-memory exporter by a worker running in
 * this process: a "process" span that continues the input's traceparent, with "decode",
 * "inference" (its batch size) and "produce" under it, and the output carrying the process span.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { validateConfig } from '../../src/config/load-config.js';
import { EventTracing } from '../../src/observability/event-tracing.js';
import { createLogger } from '../../src/observability/logger.js';
import { WorkerMetrics } from '../../src/observability/metrics.js';
import { InferenceWorker } from '../../src/pipeline/inference-worker.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  header,
  jsonMessage,
  produceMessages,
  readOutputs,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { waitFor } from '../helpers/wait-for.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const INPUT_SPAN = '00f067aa0ba902b7';

describe('tracing: the span tree of one event', () => {
  let topics: PipelineTopics;

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('tracing', 1);
  });
  after(async () => {
    await deletePipelineTopics(topics);
  });

  it('process ← input span; decode, inference (batch size), produce under process', async () => {
    const exporter = new InMemorySpanExporter();
    const config = validateConfig(
      workerConfigFor(topics, 'models/fraud-mlp/1', {
        observability: { port: 0, logLevel: 'warn' },
      }),
    );
    const worker = new InferenceWorker(config, new WorkerMetrics(), createLogger('warn'), {
      tracing: EventTracing.withExporter(exporter, 'tracing-test'),
    });
    try {
      await worker.start();
      await waitFor(() => worker.ready, { timeoutMs: 30_000, message: () => 'worker ready' });
      await produceMessages(topics.input, [
        jsonMessage(fraudEvent(1), { traceparent: `00-${TRACE_ID}-${INPUT_SPAN}-01` }),
      ]);
      const { predictions } = await readOutputs(topics, 1);
      await waitFor(() => exporter.getFinishedSpans().some((s) => s.name.startsWith('process')), {
        timeoutMs: 10_000,
        message: () => 'the process span to end',
      });
      const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === TRACE_ID);
      const process = spans.find((s) => s.name === `process ${topics.input}`)!;
      assert.ok(process, `a process span among ${spans.map((s) => s.name).join(', ')}`);
      assert.equal(process.parentSpanContext?.spanId, INPUT_SPAN, 'a child of the input span');
      assert.equal(process.attributes['messaging.destination.name'], topics.input);
      const children = spans.filter(
        (s) => s.parentSpanContext?.spanId === process.spanContext().spanId,
      );
      assert.deepEqual(children.map((s) => s.name).sort(), ['decode', 'inference', 'produce']);
      const inference = children.find((s) => s.name === 'inference')!;
      assert.equal(inference.attributes['inference.batch_size'], 1);
      assert.equal(inference.attributes['model.version'], '1');
      assert.equal(
        header(predictions[0]!, 'traceparent'),
        `00-${TRACE_ID}-${process.spanContext().spanId}-01`,
        'the output carries the process span',
      );
    } finally {
      await worker.stop();
    }
  });
});
