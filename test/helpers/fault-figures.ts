/**
 * Short and long runs of the fault scenarios. `npm test` runs them short; `npm run test:faults`
 * sets FAULTS=long (bigger counts, longer outages) and FAULT_FIGURES=<file>, where each scenario
 * appends its figures for the table the runner prints.
 */
import { appendFileSync } from 'node:fs';
import type { DeliveryReport } from './delivery-check.js';

export const LONG_FAULTS = process.env.FAULTS === 'long';

/** The short figure in `npm test`, the long one under `npm run test:faults`. */
export function faultScale<T>(short: T, long: T): T {
  return LONG_FAULTS ? long : short;
}

export type FaultFigures = Record<string, string | number>;

/** Prints a scenario's figures and, under the runner, appends them to its table. */
export function recordFaultFigures(
  scenario: string,
  report: DeliveryReport,
  extra: FaultFigures = {},
): void {
  const figures: FaultFigures = {
    inputs: report.inputs,
    lost: report.lost.length,
    duplicates: report.duplicates,
    'duplicates differing': report.duplicatesDiffering,
    'order violations': report.orderViolations,
    'dead letters':
      Object.entries(report.deadLettersByReason)
        .map(([reason, n]) => `${reason} ${n}`)
        .join(', ') || '0',
    ...extra,
  };
  const line = Object.entries(figures)
    .map(([name, value]) => `${name} ${value}`)
    .join('; ');
  process.stdout.write(`# fault ${scenario}: ${line}\n`);
  const file = process.env.FAULT_FIGURES;
  if (file) appendFileSync(file, `${JSON.stringify({ scenario, ...figures })}\n`);
}
