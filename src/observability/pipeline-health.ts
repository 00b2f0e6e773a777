/** How often the watchdog samples the pipeline and the event loop. */
const TICK_MS = 1_000;
/** How long a blocked event loop keeps /healthz failing after it recovered. */
const BLOCK_MEMORY_MS = 60_000;

export interface PipelineHealthOptions {
  /** In-flight work with no acknowledgement for this long: not ready (observability.stallAfterMs). */
  stallAfterMs: number;
  /** ... for this long: not live, so the pod is restarted (observability.unhealthyAfterMs). */
  unhealthyAfterMs: number;
  /** An event loop blocked this long: not live for a minute after (observability.maxEventLoopBlockMs). */
  maxEventLoopBlockMs: number;
}

/**
 * Notices a stall the process itself cannot report: work in flight and no acknowledgement for a
 * while (a wedged partition, an outage that does not heal), or an event loop that was blocked.
 * A 1 s watchdog timer samples both; acknowledgements only store a timestamp.
 */
export class PipelineHealth {
  private lastProgressAt = Date.now();
  private lastTickAt = Date.now();
  private blockedUntil = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly options: PipelineHealthOptions,
    private readonly inFlight: () => number,
  ) {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** Outputs were acknowledged. */
  progressed(): void {
    this.lastProgressAt = Date.now();
  }

  /** How long work has waited in flight with no acknowledgement; 0 when idle or moving. */
  stalledForMs(): number {
    return this.inFlight() > 0 ? Date.now() - this.lastProgressAt : 0;
  }

  get stalled(): boolean {
    return this.stalledForMs() > this.options.stallAfterMs;
  }

  /** Stalled far beyond readiness's bound, or the event loop was blocked: restart the process. */
  get wedged(): boolean {
    return this.stalledForMs() > this.options.unhealthyAfterMs || Date.now() < this.blockedUntil;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = Date.now();
    if (this.inFlight() === 0) this.lastProgressAt = now; // idle is not stalled
    // A tick that comes this late means the loop was blocked (heartbeats and probes with it).
    if (now - this.lastTickAt - TICK_MS > this.options.maxEventLoopBlockMs) {
      this.blockedUntil = now + BLOCK_MEMORY_MS;
    }
    this.lastTickAt = now;
  }
}
