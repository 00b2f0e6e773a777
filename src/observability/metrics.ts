import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PRODUCE_FAILURE_REASONS } from '../errors.js';

/** What the worker knows that is read at scrape time, not counted on the hot path. */
export interface ObservedState {
  consumerGroup: string;
  /** Per owned partition: high watermark minus committed offset, when the watermark is known. */
  lags(): Iterable<{ topic: string; partition: number; lag: number }>;
  ready(): boolean;
  stalled(): boolean;
  /** Per serving version and tracked feature: the PSI over the recent window. */
  drift(): Iterable<{ model: string; version: string; feature: string; kind: string; psi: number }>;
  /** Per serving version: the PSI of its answers over the recent window. */
  outputDrift(): Iterable<{ model: string; version: string; psi: number }>;
}

/**
 * The worker's Prometheus metrics, on a registry of their own. With several worker processes the
 * supervisor sums them; a gauge's `aggregator` says otherwise (ready is the minimum, and so on).
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private state: ObservedState | undefined;

  readonly eventsConsumed = new Counter({
    name: 'inference_events_consumed_total',
    help: 'Input events accepted from Kafka',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly predictions = new Counter({
    name: 'inference_predictions_total',
    help: 'Predictions acknowledged by the broker, by model, version and label ("" for regression)',
    labelNames: ['model', 'version', 'label'] as const,
    registers: [this.registry],
  });
  readonly predictionScore = new Histogram({
    name: 'inference_prediction_score',
    help: 'Probability of the top label of each classification, by model and version',
    labelNames: ['model', 'version'] as const,
    buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99],
    registers: [this.registry],
  });
  readonly eventAge = new Histogram({
    name: 'inference_event_age_seconds',
    help: "End to end: from the event's Kafka timestamp to the acknowledgement of its output",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'inference_queue_wait_seconds',
    help: "Per batch, its oldest event's wait from acceptance to the batch's start (decode, featurize, batching)",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
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
    aggregator: 'max',
    registers: [this.registry],
  });
  readonly backpressureWaits = new Counter({
    name: 'inference_backpressure_waits_total',
    help: 'Times intake hit an in-flight cap and waited',
    registers: [this.registry],
  });
  readonly produceErrors = new Counter({
    name: 'inference_produce_errors_total',
    help: 'Produce attempts the broker did not acknowledge, by reason (transient, too-large, ...)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly replies = new Counter({
    name: 'inference_replies_total',
    help: 'Request/reply: predictions written to a reply topic, by result (sent, failed)',
    labelNames: ['result'] as const,
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
  readonly transactions = new Counter({
    name: 'inference_transactions_total',
    help: 'Exactly-once: transactions ended, by result (committed or aborted)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly transactionSeconds = new Histogram({
    name: 'inference_transaction_duration_seconds',
    help: 'Exactly-once: from a transaction opening to its commit (or abort) returning',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly fencings = new Counter({
    name: 'inference_producer_fenced_total',
    help: 'Exactly-once: times this process was fenced (a newer producer or group generation took over)',
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
    aggregator: 'max',
    registers: [this.registry],
  });
  readonly modelRollbacks = new Counter({
    name: 'inference_model_rollbacks_total',
    help: 'Versions taken out of service: after a model fault (a hot swap rolled back, a canary dropped), or a canary withdrawn as worse than the primary on outcomes',
    labelNames: ['model', 'from', 'to'] as const,
    registers: [this.registry],
  });
  readonly modelInfo = new Gauge({
    name: 'inference_model_info',
    help: 'Model versions serving, by role (primary, canary, shadow), with their execution provider',
    labelNames: ['model', 'version', 'provider', 'role'] as const,
    aggregator: 'max',
    registers: [this.registry],
  });

  readonly lag = new Gauge({
    name: 'kafka_consumergroup_lag',
    help: "Per partition this worker owns: high watermark minus the group's committed offset (kafka_exporter's name)",
    labelNames: ['consumergroup', 'topic', 'partition'] as const,
    registers: [this.registry],
    collect: () => {
      this.lag.reset();
      const state = this.state;
      if (!state) return;
      for (const { topic, partition, lag } of state.lags()) {
        this.lag.set(
          { consumergroup: state.consumerGroup, topic, partition: String(partition) },
          lag,
        );
      }
    },
  });
  readonly ready: Gauge = new Gauge({
    name: 'inference_worker_ready',
    help: '1 when /readyz answers 200: joined, no model fault holding intake, not stalled',
    aggregator: 'min',
    registers: [this.registry],
    collect: () => {
      this.ready.set(this.state?.ready() ? 1 : 0);
    },
  });
  readonly stalled: Gauge = new Gauge({
    name: 'inference_pipeline_stalled',
    help: '1 while work has been in flight with no acknowledgement for observability.stallAfterMs',
    aggregator: 'max',
    registers: [this.registry],
    collect: () => {
      this.stalled.set(this.state?.stalled() ? 1 : 0);
    },
  });
  readonly drift = new Gauge({
    name: 'inference_feature_drift_psi',
    help: "Population Stability Index of a feature's recent values against model.json's reference (kind: number, boolean, category, vector: its norm)",
    labelNames: ['model', 'version', 'feature', 'kind'] as const,
    aggregator: 'average',
    registers: [this.registry],
    collect: () => {
      this.drift.reset();
      for (const { model, version, feature, kind, psi } of this.state?.drift() ?? []) {
        this.drift.set({ model, version, feature, kind }, psi);
      }
    },
  });
  readonly outputDrift = new Gauge({
    name: 'inference_output_drift_psi',
    help: "Population Stability Index of a version's recent answers (top label shares, or predicted value) against model.json's output reference",
    labelNames: ['model', 'version'] as const,
    aggregator: 'average',
    registers: [this.registry],
    collect: () => {
      this.outputDrift.reset();
      for (const { model, version, psi } of this.state?.outputDrift() ?? []) {
        this.outputDrift.set({ model, version }, psi);
      }
    },
  });
  readonly featureDefaulted = new Counter({
    name: 'inference_feature_defaulted_total',
    help: "Events whose field was missing (or null) and took the feature's default or neutral value",
    labelNames: ['model', 'feature'] as const,
    registers: [this.registry],
  });
  readonly featureOutOfRange = new Counter({
    name: 'inference_feature_out_of_range_total',
    help: "Events whose number was outside the feature's declared [min, max] (served or dead-lettered as model.json says)",
    labelNames: ['model', 'feature'] as const,
    registers: [this.registry],
  });
  readonly shadowAgreement = new Counter({
    name: 'inference_shadow_agreement_total',
    help: 'Events the shadow version answered beside the primary: result agree (same label; for a regression within model.shadow.tolerance) or disagree',
    labelNames: ['model', 'primary', 'shadow', 'result'] as const,
    registers: [this.registry],
  });
  readonly shadowScoreShift = new Histogram({
    name: 'inference_shadow_score_shift',
    help: "Per event, the shadow's answer minus the primary's: the shadow's probability of the primary's top label minus the primary's (classification), or the value difference (regression)",
    labelNames: ['model', 'primary', 'shadow'] as const,
    buckets: [-0.5, -0.2, -0.1, -0.05, -0.01, 0.01, 0.05, 0.1, 0.2, 0.5],
    registers: [this.registry],
  });
  readonly feedback = new Counter({
    name: 'inference_feedback_total',
    help: 'Outcomes joined to the answer of each version that answered the event (role primary, canary or shadow): result correct or incorrect (classification), matched (regression); unmatched (no prediction within feedback.windowMs; version and role empty), duplicate (an outcome for an event already joined: counted once)',
    labelNames: ['model', 'version', 'role', 'result'] as const,
    registers: [this.registry],
  });
  readonly feedbackConfusion = new Counter({
    name: 'inference_feedback_confusion_total',
    help: 'Joined classification outcomes by predicted and actual label',
    labelNames: ['model', 'version', 'role', 'predicted', 'actual'] as const,
    registers: [this.registry],
  });
  readonly feedbackBrier = new Histogram({
    name: 'inference_feedback_brier_score',
    help: "Per joined classification outcome, the Brier score of the answer: the sum over labels of (probability - truth)^2, 0 (sure and right) to 2 (sure and wrong); its mean is the version's calibration",
    labelNames: ['model', 'version', 'role'] as const,
    buckets: [0.01, 0.05, 0.1, 0.2, 0.5, 1, 1.5, 2],
    registers: [this.registry],
  });
  readonly feedbackAbsError = new Histogram({
    name: 'inference_feedback_abs_error',
    help: 'Per joined regression outcome, |predicted - actual|',
    labelNames: ['model', 'version', 'role'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 100],
    registers: [this.registry],
  });
  readonly feedbackPredictions = new Counter({
    name: 'inference_feedback_predictions_total',
    help: 'Acknowledged predictions kept for the outcome join: result stored, no-id (the event had no id to join on) or failed (the store refused them)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly feedbackStoreErrors = new Counter({
    name: 'inference_feedback_store_errors_total',
    help: 'Failed calls to the feedback store: remember (predictions then stay unjoined) or join (retried, nothing committed past it)',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly canaryWorse = new Gauge({
    name: 'inference_canary_worse',
    help: '1 once this worker judged the canary worse than the primary on the outcomes it joined (feedback.canary): lower accuracy by more than the margin, or a higher mean absolute error',
    labelNames: ['model', 'canary', 'primary'] as const,
    aggregator: 'max',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Series at 0 from the start, so that rates and alerts see the first error as an increase.
    for (const reason of PRODUCE_FAILURE_REASONS) this.produceErrors.inc({ reason }, 0);
    // Zero under at-least-once: the dashboard's transaction panel reads the same in both modes.
    for (const result of ['committed', 'aborted'] as const) this.transactions.inc({ result }, 0);
    for (const operation of ['remember', 'join'] as const) {
      this.feedbackStoreErrors.inc({ operation }, 0);
    }
  }

  /** Reads these at each scrape (lag, readiness, stall, drift). */
  observe(state: ObservedState): void {
    this.state = state;
  }
}
