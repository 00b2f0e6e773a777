import type { Logger } from 'pino';
import type { FeedbackOptions } from '../config/worker-config.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { OutcomeScoring, Tally } from './outcome-scoring.js';

/** The versions serving now, as the guard compares them. */
export interface ServingPair {
  primary: { name: string; version: string };
  canary: { name: string; version: string } | undefined;
}

/**
 * Compares the canary with the primary on the outcomes this worker joined (feedback.canary):
 * once both have enough, a canary worse by more than the margin is flagged once (logged, and
 * inference_canary_worse set) and, when configured, withdrawn: every key goes to the primary.
 */
export class CanaryGuard {
  private readonly flagged = new Set<string>();

  constructor(
    private readonly options: FeedbackOptions['canary'],
    /** The model's output: accuracy is compared for a classifier, mean absolute error for a regression. */
    private readonly kind: 'classification' | 'regression',
    private readonly scoring: OutcomeScoring,
    private readonly serving: () => ServingPair | undefined,
    private readonly withdraw: (canary: { name: string; version: string }) => void,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {}

  check(): void {
    const pair = this.serving();
    if (!pair?.canary || this.flagged.has(pair.canary.version)) return;
    const canary = this.scoring.tally('canary', pair.canary.version);
    const primary = this.scoring.tally('primary', pair.primary.version);
    const { minOutcomes, margin } = this.options;
    if (!canary || !primary || canary.outcomes < minOutcomes || primary.outcomes < minOutcomes)
      return;
    const verdict = compare(canary, primary, margin, this.kind === 'regression');
    if (!verdict) return;
    this.flagged.add(pair.canary.version);
    const labels = {
      model: pair.canary.name,
      canary: pair.canary.version,
      primary: pair.primary.version,
    };
    this.metrics.canaryWorse.set(labels, 1);
    this.logger.error(
      { ...labels, ...verdict, outcomes: { canary: canary.outcomes, primary: primary.outcomes } },
      this.options.withdraw
        ? 'canary worse than the primary on outcomes; withdrawing it'
        : 'canary worse than the primary on outcomes (feedback.canary.withdraw is off: it keeps serving)',
    );
    if (this.options.withdraw) this.withdraw(pair.canary);
  }
}

/** The figures that make the canary worse, or undefined when it is not. */
function compare(
  canary: Tally,
  primary: Tally,
  margin: number,
  regression: boolean,
): Record<string, number> | undefined {
  if (regression) {
    const canaryError = canary.absErrorSum / canary.outcomes;
    const primaryError = primary.absErrorSum / primary.outcomes;
    return canaryError > primaryError * (1 + margin) ? { canaryError, primaryError } : undefined;
  }
  const canaryAccuracy = canary.correct / canary.outcomes;
  const primaryAccuracy = primary.correct / primary.outcomes;
  return canaryAccuracy < primaryAccuracy - margin
    ? { canaryAccuracy, primaryAccuracy }
    : undefined;
}
