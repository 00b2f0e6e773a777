import type { Span } from '@opentelemetry/api';
import type { PoisonInputError } from '../errors.js';
import type { RecordHeaders } from '../kafka/transport.js';
import type { Prediction } from '../model/postprocessor.js';
import type { ModelIdentity } from './output-records.js';
import type { PartitionLane } from './partition-lane.js';

/** What became of one input event: a prediction, or a reason to dead-letter it. */
export type Outcome =
  | { type: 'prediction'; prediction: Prediction; model: ModelIdentity }
  | { type: 'dead-letter'; error: PoisonInputError };

/** A shadow version's answer for an event: its prediction, or "none" when it has none to give. */
export type ShadowAnswer = { prediction: Prediction; model: ModelIdentity } | 'none';

/**
 * One input event from the moment it is accepted until its output is acknowledged. It keeps its
 * source tag {topic, partition, offset} through cross-partition batching.
 */
export interface InFlightEvent {
  /** The lane that accepted it; revoked when its partition left this member. */
  lane: PartitionLane;
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeaders;
  /** Broker timestamp of the input record, ms since epoch. */
  timestamp: number;
  /** When this worker accepted it (performance.now()), for the latency histogram. */
  acceptedAt: number;
  /** Set by its lane only (PartitionLane.settle): the stages tell the lane, the lane records. */
  readonly outcome?: Outcome;
  /**
   * With a shadow version configured: its answer, "none" for bad input or a row the shadow
   * failed on; undefined while the shadow is still working. Set by its lane only.
   */
  readonly shadow?: ShadowAnswer;
  /** Its fields were counted for data quality (once, however often it is prepared). */
  qualityCounted?: boolean;
  /** Its id for the outcome join, when feedback.idField names one and the event has it. */
  feedbackId?: string;
  /** Its OpenTelemetry span, when tracing is configured. */
  span?: Span;
}

/** Ready to leave its lane: the outcome is known, and so is the shadow's, if one runs. */
export function isSettled(event: InFlightEvent, withShadow: boolean): boolean {
  return event.outcome !== undefined && (!withShadow || event.shadow !== undefined);
}
