import type { FlowControlOptions } from '../config/worker-config.js';
import type { PartitionLane } from './partition-lane.js';

/** A paused partition resumes once its backlog has drained to this share of the cap. */
const RESUME_RATIO = 0.5;

/**
 * Bounds memory: a lane may accept an event only while it and the whole worker are under their
 * in-flight caps. Resuming waits until both have drained well below, so fetching does not flap.
 */
export class FlowControl {
  constructor(private readonly options: FlowControlOptions) {}

  canAccept(lane: PartitionLane, totalInFlight: number): boolean {
    return (
      lane.inFlight < this.options.maxInFlightPerPartition &&
      totalInFlight < this.options.maxInFlightTotal
    );
  }

  canResume(lane: PartitionLane, totalInFlight: number): boolean {
    return (
      lane.inFlight <= this.options.maxInFlightPerPartition * RESUME_RATIO &&
      totalInFlight <= this.options.maxInFlightTotal * RESUME_RATIO
    );
  }
}
