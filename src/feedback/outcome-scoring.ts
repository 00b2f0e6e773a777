import type { OutputSpec } from '../model/model-manifest.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { AnswerRole, StoredAnswer } from './feedback-store.js';
import type { Truth } from './outcome-record.js';

type Increment = { inc(value?: number): void };
type Observer = { observe(value: number): void };

/** What the outcomes this worker joined say about one version in one role. */
export interface Tally {
  outcomes: number;
  correct: number;
  absErrorSum: number;
}

interface VersionSeries {
  correct: Increment;
  incorrect: Increment;
  matched: Increment;
  brier: Observer;
  absError: Observer;
  tally: Tally;
}

/**
 * Scores each joined answer against its outcome: correct or incorrect, the confusion cell and
 * the Brier score for a classifier; the absolute error for a regression. Series are bound once
 * per version and role; the tallies are what the canary guard compares.
 */
export class OutcomeScoring {
  private readonly series = new Map<string, VersionSeries>();
  private readonly labels: ReadonlySet<string>;
  private readonly unmatchedSeries: Increment;
  private readonly duplicateSeries: Increment;

  constructor(
    private readonly model: string,
    private readonly output: OutputSpec,
    private readonly metrics: WorkerMetrics,
  ) {
    this.labels = new Set(output.kind === 'classification' ? output.labels : []);
    const none = { model, version: '', role: '' };
    this.unmatchedSeries = metrics.feedback.labels({ ...none, result: 'unmatched' });
    this.duplicateSeries = metrics.feedback.labels({ ...none, result: 'duplicate' });
    // At 0 from the start, so a rate sees the first unmatched outcome.
    this.unmatchedSeries.inc(0);
    this.duplicateSeries.inc(0);
  }

  unmatched(count = 1): void {
    this.unmatchedSeries.inc(count);
  }

  duplicate(count = 1): void {
    this.duplicateSeries.inc(count);
  }

  /** Scores every version's answer to one event; an answer of another kind is skipped. */
  score(truth: Truth, answers: StoredAnswer[]): void {
    for (const { role, version, prediction } of answers) {
      const series = this.seriesFor(role, version);
      if (truth.kind === 'label' && prediction?.kind === 'classification') {
        const right = prediction.label === truth.label;
        (right ? series.correct : series.incorrect).inc();
        series.tally.outcomes++;
        if (right) series.tally.correct++;
        series.brier.observe(this.brier(prediction.topK, truth.label));
        if (this.labels.has(prediction.label)) {
          this.metrics.feedbackConfusion.inc({
            model: this.model,
            version,
            role,
            predicted: prediction.label,
            actual: truth.label,
          });
        }
      } else if (truth.kind === 'value' && prediction?.kind === 'regression') {
        const error = Math.abs(prediction.value - truth.value);
        if (!Number.isFinite(error)) continue;
        series.matched.inc();
        series.absError.observe(error);
        series.tally.outcomes++;
        series.tally.absErrorSum += error;
      }
    }
  }

  tally(role: AnswerRole, version: string): Tally | undefined {
    return this.series.get(`${role}\u0000${version}`)?.tally;
  }

  /**
   * Σ over labels of (p − truth)²: the listed (topK) probabilities, the others taken as 0, which
   * is exact when topK lists every label.
   */
  private brier(topK: { label: string; probability: number }[], actual: string): number {
    let sum = 0;
    let listedActual = false;
    for (const { label, probability } of topK) {
      const truth = label === actual ? 1 : 0;
      if (truth) listedActual = true;
      sum += (probability - truth) ** 2;
    }
    return listedActual ? sum : sum + 1;
  }

  private seriesFor(role: AnswerRole, version: string): VersionSeries {
    const key = `${role}\u0000${version}`;
    let series = this.series.get(key);
    if (!series) {
      const labels = { model: this.model, version, role };
      const { feedback, feedbackBrier, feedbackAbsError } = this.metrics;
      series = {
        correct: feedback.labels({ ...labels, result: 'correct' }),
        incorrect: feedback.labels({ ...labels, result: 'incorrect' }),
        matched: feedback.labels({ ...labels, result: 'matched' }),
        brier: feedbackBrier.labels(labels),
        absError: feedbackAbsError.labels(labels),
        tally: { outcomes: 0, correct: 0, absErrorSum: 0 },
      };
      if (this.output.kind === 'classification') {
        series.correct.inc(0);
        series.incorrect.inc(0);
      }
      this.series.set(key, series);
    }
    return series;
  }
}
