import type { ModelIdentity } from '../model/loaded-model.js';
import type { Prediction } from '../model/postprocessor.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { InFlightEvent } from './in-flight-event.js';

type ScoreObserver = { observe(value: number): void };

/** A primary's and a shadow's series, bound once per pair of versions. */
interface ShadowSeries {
  agree: { inc(): void };
  disagree: { inc(): void };
  shift: ScoreObserver;
}

/** A primary's and its shadow's answers to one event, compared. */
interface Comparison {
  agree: boolean;
  /** The shadow's score minus the primary's (see inference_shadow_score_shift). */
  shift: number;
}

/**
 * Same label (classification), or values within `tolerance` (regression); the shift is the
 * shadow's probability of the primary's label minus the primary's, or the value difference.
 */
export function compareAnswers(
  primary: Prediction,
  shadow: Prediction,
  tolerance: number,
): Comparison | undefined {
  if (primary.kind === 'classification' && shadow.kind === 'classification') {
    const same = shadow.topK.find((ranked) => ranked.label === primary.label);
    return {
      agree: shadow.label === primary.label,
      // Beyond the shadow's topK its probability is unknown: at most its lowest listed one.
      shift: (same?.probability ?? shadow.topK.at(-1)?.probability ?? 0) - primary.confidence,
    };
  }
  if (primary.kind === 'regression' && shadow.kind === 'regression') {
    const shift = shadow.value - primary.value;
    return { agree: Math.abs(shift) <= tolerance, shift };
  }
  return undefined; // a shadow with another output kind: nothing to compare
}

/**
 * Counts what acknowledged outputs say, once per acknowledged send: dead letters by stage and
 * reason, predictions by model, version and label, the top score, the time inside the worker and
 * the age of the event end to end, and where a shadow answered too, whether it agrees with the
 * primary. Label counts are summed per send before they reach prom-client; per-event series are
 * bound once per version (or pair of versions).
 */
export class OutcomeMetrics {
  private readonly scoreByModel = new WeakMap<ModelIdentity, ScoreObserver>();
  private readonly shadowByPair = new WeakMap<
    ModelIdentity,
    WeakMap<ModelIdentity, ShadowSeries>
  >();

  constructor(
    private readonly metrics: WorkerMetrics,
    /** model.shadow.tolerance: regression answers this close agree. */
    private readonly shadowTolerance = 0,
  ) {}

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
        if (event.shadow && event.shadow !== 'none') {
          this.compare(prediction, model, event.shadow.prediction, event.shadow.model);
        }
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

  private compare(
    prediction: Prediction,
    model: ModelIdentity,
    shadowPrediction: Prediction,
    shadow: ModelIdentity,
  ): void {
    const comparison = compareAnswers(prediction, shadowPrediction, this.shadowTolerance);
    if (!comparison) return;
    const series = this.shadowSeries(model, shadow);
    (comparison.agree ? series.agree : series.disagree).inc();
    series.shift.observe(comparison.shift);
  }

  private shadowSeries(model: ModelIdentity, shadow: ModelIdentity): ShadowSeries {
    let byShadow = this.shadowByPair.get(model);
    if (!byShadow) this.shadowByPair.set(model, (byShadow = new WeakMap()));
    let series = byShadow.get(shadow);
    if (!series) {
      const labels = { model: model.name, primary: model.version, shadow: shadow.version };
      const { shadowAgreement, shadowScoreShift } = this.metrics;
      series = {
        agree: shadowAgreement.labels({ ...labels, result: 'agree' }),
        disagree: shadowAgreement.labels({ ...labels, result: 'disagree' }),
        shift: shadowScoreShift.labels(labels),
      };
      byShadow.set(shadow, series);
    }
    return series;
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
