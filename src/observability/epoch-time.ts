/** A performance.now() time as epoch milliseconds (what span start times take). */
export function epochMs(performanceNow: number): number {
  return performance.timeOrigin + performanceNow;
}
