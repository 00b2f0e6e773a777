import type { Logger } from 'pino';

/** Log an outage at most this often: one line says it, the metrics count it. */
const WARN_INTERVAL_MS = 10_000;

/** A warn that writes at most one line per interval (a dependency that is down fails often). */
export function throttledWarning(
  logger: Logger,
  intervalMs = WARN_INTERVAL_MS,
): (fields: Record<string, unknown>, message: string) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (fields, message) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    logger.warn(fields, message);
  };
}
