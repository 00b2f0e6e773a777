import type { WorkerConfig } from '../config/worker-config.js';
import { ConfigError } from '../errors.js';
import type { ConsumerTransport } from '../kafka/transport.js';
import type { ModelIdentity } from '../model/loaded-model.js';
import type { OutputSpec } from '../model/model-manifest.js';
import { CanaryGuard, type ServingPair } from './canary-guard.js';
import { createFeedbackStore } from './create-feedback-store.js';
import type { AnswerRole, FeedbackStore } from './feedback-store.js';
import { OutcomeJoin, type OutcomeJoinOptions } from './outcome-join.js';
import { OutcomeScoring } from './outcome-scoring.js';
import { PredictionRecorder } from './prediction-recorder.js';

/** What the loop needs from the versions serving. */
export interface ServedVersions {
  roleOf(identity: ModelIdentity): AnswerRole;
  pair(): ServingPair | undefined;
  withdrawCanary(version: string): void;
}

/** The shared parts the loop is built from; the outcome join takes several of them as they are. */
export type FeedbackLoopParts = Pick<
  OutcomeJoinOptions,
  'decoder' | 'producer' | 'backoff' | 'keepRetrying' | 'onFatal' | 'metrics' | 'logger'
> & {
  config: WorkerConfig;
  /** The primary's model name and output, which outcomes are read against. */
  model: string;
  output: OutputSpec;
  served: ServedVersions;
};

/**
 * feedback: predictions kept as they are acknowledged (the recorder), outcomes read from their
 * topic and joined to them (the join), each joined answer scored per version and role, and the
 * canary compared with the primary. Built once at start-up; the outcome consumer starts once
 * the worker has joined its group.
 */
export class FeedbackLoop {
  readonly recorder: PredictionRecorder;
  private readonly join: OutcomeJoin;

  private constructor(
    private readonly store: FeedbackStore,
    recorder: PredictionRecorder,
    join: OutcomeJoin,
  ) {
    this.recorder = recorder;
    this.join = join;
  }

  static create(parts: FeedbackLoopParts): FeedbackLoop {
    const { config, output, metrics, logger } = parts;
    const feedback = config.feedback!;
    if (output.kind === 'classification' && !feedback.labelField) {
      throw new ConfigError(
        'feedback.labelField',
        `the model "${parts.model}" is a classifier: expected labelField (the outcome's true label), got valueField`,
      );
    }
    if (output.kind === 'regression' && !feedback.valueField) {
      throw new ConfigError(
        'feedback.valueField',
        `the model "${parts.model}" is a regression: expected valueField (the outcome's true value), got labelField`,
      );
    }
    const store = createFeedbackStore(feedback, config.cache, parts.model, logger);
    const scoring = new OutcomeScoring(parts.model, output, metrics);
    const guard = new CanaryGuard(
      feedback.canary,
      output.kind,
      scoring,
      () => parts.served.pair(),
      (canary) => parts.served.withdrawCanary(canary.version),
      metrics,
      logger,
    );
    const recorder = new PredictionRecorder(
      store,
      feedback.idField === undefined,
      (identity) => parts.served.roleOf(identity),
      metrics,
      logger,
    );
    const join = new OutcomeJoin({
      topic: feedback.topic,
      deadLetterTopic: config.kafka.deadLetterTopic,
      fromBeginning: config.kafka.fromBeginning,
      shape: {
        idField: feedback.idField,
        labelField: feedback.labelField,
        valueField: feedback.valueField,
        output,
      },
      decoder: parts.decoder,
      store,
      scoring,
      guard,
      producer: parts.producer,
      backoff: parts.backoff,
      keepRetrying: parts.keepRetrying,
      onFatal: parts.onFatal,
      metrics,
      logger,
    });
    return new FeedbackLoop(store, recorder, join);
  }

  /** Joins the feedback group (its own consumer) and starts reading outcomes. */
  start(consumer: ConsumerTransport): Promise<void> {
    return this.join.start(consumer);
  }

  async stop(): Promise<void> {
    try {
      await this.join.stop();
    } finally {
      await this.store.close();
    }
  }
}

/** The feedback group: its own, so outcomes are shared among workers apart from the events. */
export function feedbackGroupId(config: WorkerConfig): string {
  return config.feedback?.groupId ?? `${config.kafka.groupId}.feedback`;
}
