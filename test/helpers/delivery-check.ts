/**
 * The fault suite's one checker: reads the input, output and dead-letter topics and accounts
 * for every input offset. Every fault scenario asserts on its report.
 *
 * - lost: input offsets with neither a prediction nor a dead letter;
 * - duplicates: outputs beyond the first for one input offset, and how many of them differ from
 *   the first in more than wall-clock fields (predictedAt, dlq.timestamp) — a redelivery must
 *   give the same answer;
 * - order violations: within each output partition, the first outputs of one input partition
 *   must come in increasing source offset (a replay after a crash repeats, never reorders);
 * - dead letters by reason (dlq.error.reason).
 */
import { readAllMessages, type ReadRecord } from './kafka-test-helpers.js';
import type { PipelineTopics } from './pipeline-fixture.js';

export interface DeliveryReport {
  inputs: number;
  predicted: number;
  deadLettered: number;
  lost: string[];
  duplicates: number;
  duplicatesDiffering: number;
  orderViolations: number;
  deadLettersByReason: Record<string, number>;
}

export interface DeliveryCheckOptions {
  /** Wait until outputs and dead letters account for this many inputs (default: every input). */
  timeoutMs?: number;
}

/** Accounts for every record of `topics.input`; waits for outputs up to `timeoutMs`. */
export async function checkDelivery(
  topics: Pick<PipelineTopics, 'input' | 'output' | 'deadLetter'>,
  options: DeliveryCheckOptions = {},
): Promise<DeliveryReport> {
  const { timeoutMs = 120_000 } = options;
  const inputs = await readAllMessages(topics.input, { timeoutMs: 60_000 });
  const deadline = Date.now() + timeoutMs;
  let outputs: ReadRecord[];
  let deadLetters: ReadRecord[];
  for (;;) {
    outputs = await readAllMessages(topics.output, { timeoutMs: 60_000 });
    deadLetters = await readAllMessages(topics.deadLetter, { timeoutMs: 60_000 });
    const answered = new Set([...sources(outputs, ''), ...sources(deadLetters, 'dlq.')]);
    if (answered.size >= inputs.length || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return accountFor(inputs, outputs, deadLetters);
}

/** The report for records already read (exported for the checker's own unit test). */
export function accountFor(
  inputs: ReadRecord[],
  outputs: ReadRecord[],
  deadLetters: ReadRecord[],
): DeliveryReport {
  const first = new Map<string, string>();
  let duplicates = 0;
  let duplicatesDiffering = 0;
  const count = (source: string, fingerprint: string): void => {
    const seen = first.get(source);
    if (seen === undefined) {
      first.set(source, fingerprint);
      return;
    }
    duplicates++;
    if (seen !== fingerprint) duplicatesDiffering++;
  };
  for (const record of outputs) count(sourceOf(record, ''), predictionFingerprint(record));
  for (const record of deadLetters) count(sourceOf(record, 'dlq.'), deadLetterFingerprint(record));

  const deadLettersByReason: Record<string, number> = {};
  const deadLettered = new Set<string>();
  for (const record of deadLetters) {
    const source = sourceOf(record, 'dlq.');
    if (deadLettered.has(source)) continue;
    deadLettered.add(source);
    const reason = header(record, 'dlq.error.reason') ?? 'unknown';
    deadLettersByReason[reason] = (deadLettersByReason[reason] ?? 0) + 1;
  }
  const predicted = new Set(sources(outputs, ''));
  const lost = inputs
    .map((record) => `${record.partition}@${record.offset}`)
    .filter((source) => !predicted.has(source) && !deadLettered.has(source));
  return {
    inputs: inputs.length,
    predicted: predicted.size,
    deadLettered: deadLettered.size,
    lost,
    duplicates,
    duplicatesDiffering,
    orderViolations: orderViolations(outputs, '') + orderViolations(deadLetters, 'dlq.'),
    deadLettersByReason,
  };
}

/** One line for a test's output (and the fault suite's table). */
export function describeReport(name: string, report: DeliveryReport): string {
  const reasons = Object.entries(report.deadLettersByReason)
    .map(([reason, n]) => `${reason}=${n}`)
    .join(' ');
  return (
    `# ${name}: inputs ${report.inputs}, predicted ${report.predicted}, dead letters ` +
    `${report.deadLettered}${reasons ? ` (${reasons})` : ''}, lost ${report.lost.length}, ` +
    `duplicates ${report.duplicates} (${report.duplicatesDiffering} differing), ` +
    `order violations ${report.orderViolations}\n`
  );
}

function header(record: ReadRecord, name: string): string | undefined {
  return record.headers[name]?.toString();
}

/** A dead letter's source is in its headers; a prediction's there, or in its JSON value. */
function sourceOf(record: ReadRecord, prefix: '' | 'dlq.'): string {
  const partition = header(record, `${prefix}source.partition`);
  if (partition === undefined && prefix === '') {
    try {
      const { source } = JSON.parse(record.value.toString()) as {
        source: { partition: number; offset: string };
      };
      return `${source.partition}@${source.offset}`;
    } catch {
      return 'unknown@unknown';
    }
  }
  return `${partition}@${header(record, `${prefix}source.offset`)}`;
}

function sources(records: ReadRecord[], prefix: '' | 'dlq.'): string[] {
  return records.map((record) => sourceOf(record, prefix));
}

/** The prediction without its wall-clock field, with the headers that name the model. */
function predictionFingerprint(record: ReadRecord): string {
  let value: string;
  try {
    const parsed = JSON.parse(record.value.toString()) as Record<string, unknown>;
    delete parsed.predictedAt;
    value = JSON.stringify(parsed);
  } catch {
    value = record.value.toString('base64'); // Avro: compared as bytes
  }
  return [value, header(record, 'model.version'), record.key?.toString()].join('|');
}

function deadLetterFingerprint(record: ReadRecord): string {
  return [
    record.value.toString('base64'),
    header(record, 'dlq.error.reason'),
    header(record, 'dlq.error.message'),
  ].join('|');
}

function orderViolations(records: ReadRecord[], prefix: '' | 'dlq.'): number {
  let violations = 0;
  const seen = new Set<string>();
  const last = new Map<string, number>(); // output partition / input partition -> offset
  for (const record of records) {
    const source = sourceOf(record, prefix);
    if (seen.has(source)) continue; // a redelivery repeats; only first answers must be in order
    seen.add(source);
    const [sourcePartition, sourceOffset] = source.split('@');
    const lane = `${record.partition}/${sourcePartition}`;
    const offset = Number(sourceOffset);
    if (offset < (last.get(lane) ?? -1)) violations++;
    last.set(lane, Math.max(offset, last.get(lane) ?? -1));
  }
  return violations;
}
