/**
 * Markdown tables and number formatting for the benchmark report. Figures only: nothing here
 * asserts on timings.
 */

export type Cell = string | number;

const NUMBER_LIKE = /^(n\/a|[-+]?[\d,]*\.?\d+(×|%| s)?)$/;

/** A GitHub-flavoured markdown table; numeric columns are right-aligned, text left-aligned. */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
): string {
  const text = rows.map((row) => row.map((cell) => String(cell)));
  const numeric = headers.map((_, column) =>
    text.every((row) => NUMBER_LIKE.test(row[column] ?? '')),
  );
  const widths = headers.map((header, column) =>
    Math.max(3, header.length, ...text.map((row) => row[column]?.length ?? 0)),
  );
  const pad = (cell: string, column: number): string =>
    numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!);
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, column) => pad(cell, column)).join(' | ')} |`;
  const rule = widths.map((width, column) =>
    numeric[column] ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width),
  );
  return [line(headers), `| ${rule.join(' | ')} |`, ...text.map(line)].join('\n');
}

/** 12345.678 -> "12,345.7" (fixed decimals, thousands separators). */
export function fmt(value: number, decimals = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}

/** A ratio to 3 significant digits: "0.386×", "0.00205×", "1.00×". */
export function ratio(numerator: number, denominator: number): string {
  const value = numerator / denominator;
  if (!(denominator > 0) || !Number.isFinite(value)) return 'n/a';
  return `${value >= 100 ? fmt(value) : value.toPrecision(3)}×`;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Progress for the person watching; stderr, so stdout holds only the report. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
