import type { ModelIdentity } from '../model/loaded-model.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { InFlightEvent } from './in-flight-event.js';

type ScoreObserver = { observe(value: number): void };

/**
 * Counts what acknowledged outputs say, once per acknowledged send: dead letters by stage and
 * reason, predictions by model, version and label, the top score, the time inside the worker and
 * the age of the event end to end. Label counts are summed per send before they reach prom-client.
 */
export class OutcomeMetrics {
  private readonly scoreByModel = new WeakMap<ModelIdentity, ScoreObserver>();

  constructor(private readonly metrics: WorkerMetrics) {}

  acknowledged(events: InFlightEvent[]): void {
    const now = performance.now();
    const wallClock = Date.now();
    const predictions = new Map<ModelIdentity, Map<string, number>>();
    for (const event of events) {
      const outcome = event.outcome!;
      if (outcome.type === 'dead-letter') {
        const { stage, reason } = outcome.error;
        this.metrics.deadLetters.inc({ stage, reason });
      } else {
        const { prediction, model } = outcome;
        let byLabel = predictions.get(model);
        if (!byLabel) predictions.set(model, (byLabel = new Map()));
        const label = prediction.kind === 'classification' ? prediction.label : '';
        byLabel.set(label, (byLabel.get(label) ?? 0) + 1);
        if (prediction.kind === 'classification') this.scores(model).observe(prediction.confidence);
      }
      this.metrics.eventSeconds.observe((now - event.acceptedAt) / 1000);
      this.metrics.eventAge.observe(Math.max(0, wallClock - event.timestamp) / 1000);
    }
    for (const [{ name, version }, byLabel] of predictions) {
      for (const [label, count] of byLabel) {
        this.metrics.predictions.inc({ model: name, version, label }, count);
      }
    }
  }

  private scores(model: ModelIdentity): ScoreObserver {
    let observer = this.scoreByModel.get(model);
    if (!observer) {
      observer = this.metrics.predictionScore.labels({ model: model.name, version: model.version });
      this.scoreByModel.set(model, observer);
    }
    return observer;
  }
}
