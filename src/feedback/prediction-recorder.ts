import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { ModelIdentity } from '../model/loaded-model.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { throttledWarning } from '../observability/throttled-warning.js';
import type { InFlightEvent } from '../pipeline/in-flight-event.js';
import {
  eventId,
  type AnswerRole,
  type FeedbackStore,
  type RememberedEvent,
  type StoredAnswer,
} from './feedback-store.js';

/**
 * Keeps each acknowledged prediction (and its shadow's) for the outcome join, one store call per
 * acknowledged send, in the background: a store that refuses them costs their outcomes a match
 * (counted), never the events.
 */
export class PredictionRecorder {
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(
    private readonly store: FeedbackStore,
    /** feedback.idField is unset: the record key is the event id. */
    private readonly idFromKey: boolean,
    private readonly roleOf: (model: ModelIdentity) => AnswerRole,
    private readonly metrics: WorkerMetrics,
    logger: Logger,
  ) {
    this.warn = throttledWarning(logger);
  }

  acknowledged(events: InFlightEvent[]): void {
    const remembered: RememberedEvent[] = [];
    let withoutId = 0;
    for (const event of events) {
      const outcome = event.outcome;
      if (outcome?.type !== 'prediction') continue;
      const id = this.idFromKey ? eventId(event.key?.toString('utf8')) : event.feedbackId;
      if (id === undefined) {
        withoutId++;
        continue;
      }
      const answers: StoredAnswer[] = [
        {
          version: outcome.model.version,
          role: this.roleOf(outcome.model),
          prediction: outcome.prediction,
        },
      ];
      const shadow = event.shadow;
      if (shadow && shadow !== 'none') {
        answers.push({
          version: shadow.model.version,
          role: 'shadow',
          prediction: shadow.prediction,
        });
      }
      remembered.push({ id, answers });
    }
    if (withoutId > 0) this.metrics.feedbackPredictions.inc({ result: 'no-id' }, withoutId);
    if (remembered.length === 0) return;
    this.store.remember(remembered).then(
      () => this.metrics.feedbackPredictions.inc({ result: 'stored' }, remembered.length),
      (error: unknown) => {
        this.metrics.feedbackPredictions.inc({ result: 'failed' }, remembered.length);
        this.metrics.feedbackStoreErrors.inc({ operation: 'remember' });
        this.warn(
          { err: errorMessage(error), predictions: remembered.length },
          'feedback store refused predictions; their outcomes will be unmatched',
        );
      },
    );
  }
}
