import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';

/** One log line per observer and minute at most: an observer failing per event must not flood. */
const LOG_EVERY_MS = 60_000;

/**
 * Runs observers on the hot path (metrics, drift, tracing): what they throw is logged and
 * dropped, never thrown into the pipeline. An observer's bug costs a figure, not a partition.
 */
export class ObserverGuard {
  private readonly lastLogged = new Map<string, number>();

  constructor(private readonly logger: Logger) {}

  run(observer: string, observe: () => void): void {
    try {
      observe();
    } catch (error) {
      const now = Date.now();
      if (now - (this.lastLogged.get(observer) ?? -Infinity) < LOG_EVERY_MS) return;
      this.lastLogged.set(observer, now);
      this.logger.error(
        { err: errorMessage(error), observer },
        'observer failed; the pipeline goes on (logged once a minute)',
      );
    }
  }
}
