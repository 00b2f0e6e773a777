import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The worker's Prometheus metrics, on a registry of their own. */
export class WorkerMetrics {
  readonly registry = new Registry();

  readonly eventsConsumed = new Counter({
    name: 'inference_events_consumed_total',
    help: 'Input events accepted from Kafka',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly predictionsProduced = new Counter({
    name: 'inference_predictions_produced_total',
    help: 'Predictions acknowledged by the broker',
    labelNames: ['model_version'] as const,
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'inference_dead_letters_total',
    help: 'Events sent to the dead-letter topic, by failing stage and reason',
    labelNames: ['stage', 'reason'] as const,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'inference_batch_size',
    help: 'Rows per ONNX Runtime call',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry],
  });
  readonly inferenceSeconds = new Histogram({
    name: 'inference_batch_duration_seconds',
    help: 'Time of one ONNX Runtime call, measured in the inference thread',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly eventSeconds = new Histogram({
    name: 'inference_event_duration_seconds',
    help: 'From accepting an event to the broker acknowledging its output',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'inference_in_flight_events',
    help: 'Events accepted and not yet acknowledged downstream',
    registers: [this.registry],
  });
  readonly backpressureActive = new Gauge({
    name: 'inference_backpressure_active',
    help: '1 while intake (and so fetching) waits for in-flight events to drain below the caps',
    registers: [this.registry],
  });
  readonly backpressureWaits = new Counter({
    name: 'inference_backpressure_waits_total',
    help: 'Times intake hit an in-flight cap and waited',
    registers: [this.registry],
  });
  readonly produceRetries = new Counter({
    name: 'inference_produce_retries_total',
    help: 'Produce attempts that failed and were retried',
    registers: [this.registry],
  });
  readonly commits = new Counter({
    name: 'inference_offset_commits_total',
    help: 'Offset commit requests, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly rebalances = new Counter({
    name: 'inference_group_joins_total',
    help: 'Consumer group joins of this member',
    registers: [this.registry],
  });
  readonly cacheLookups = new Counter({
    name: 'inference_cache_lookups_total',
    help: 'Prediction cache lookups, by result (hit or miss)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly cacheErrors = new Counter({
    name: 'inference_cache_errors_total',
    help: 'Prediction cache operations that failed (counted as misses)',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly decodeRetries = new Counter({
    name: 'inference_decode_retries_total',
    help: 'Decodes retried because the schema registry was unavailable',
    registers: [this.registry],
  });
  readonly modelSwaps = new Counter({
    name: 'inference_model_swaps_total',
    help: 'Primary model versions swapped in while running',
    registers: [this.registry],
  });
  readonly modelFaults = new Counter({
    name: 'inference_model_faults_total',
    help: 'Batches that failed as a whole because of the model or its device (nothing dead-lettered)',
    labelNames: ['model', 'version'] as const,
    registers: [this.registry],
  });
  readonly modelCircuitOpen = new Gauge({
    name: 'inference_model_circuit_open',
    help: '1 while a model fault holds intake (not ready) until a batch succeeds again',
    registers: [this.registry],
  });
  readonly modelRollbacks = new Counter({
    name: 'inference_model_rollbacks_total',
    help: 'Versions taken out of service after a model fault (a hot swap rolled back, a canary dropped)',
    labelNames: ['model', 'from', 'to'] as const,
    registers: [this.registry],
  });
  readonly modelInfo = new Gauge({
    name: 'inference_model_info',
    help: 'Model versions serving, by role (primary, canary, shadow), with their execution provider',
    labelNames: ['model', 'version', 'provider', 'role'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
