import { PoisonInputError } from '../errors.js';
import type { OutputSpec } from '../model/model-manifest.js';
import { eventId } from './feedback-store.js';

/** The truth about one event: its label (classification) or its value (regression). */
export type Truth = { kind: 'label'; label: string } | { kind: 'value'; value: number };

export interface Outcome {
  id: string;
  truth: Truth;
}

/** What an outcome record must hold, from feedback.* and the model's output. */
export interface OutcomeShape {
  /** Field of the event id; undefined: the record key is the id. */
  idField: string | undefined;
  labelField: string | undefined;
  valueField: string | undefined;
  output: OutputSpec;
}

/**
 * Reads one decoded outcome record. An outcome the join cannot use (no id, a label the model
 * does not have, a value that is not a finite number) is a PoisonInputError at stage
 * "feedback": it is dead-lettered, never retried.
 */
export function readOutcome(
  record: Record<string, unknown>,
  key: Buffer | null,
  shape: OutcomeShape,
): Outcome {
  const rawId = shape.idField === undefined ? key?.toString('utf8') : record[shape.idField];
  const id = eventId(rawId);
  if (id === undefined) {
    const where = shape.idField === undefined ? 'record key' : `field "${shape.idField}"`;
    throw poison(`outcome has no usable event id in its ${where} (expected text or a number)`);
  }
  return { id, truth: readTruth(record, shape) };
}

function readTruth(record: Record<string, unknown>, shape: OutcomeShape): Truth {
  const { output } = shape;
  if (output.kind === 'classification') {
    const field = shape.labelField!;
    const raw = record[field];
    if (typeof raw === 'string' && output.labels.includes(raw))
      return { kind: 'label', label: raw };
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw < output.labels.length)
      return { kind: 'label', label: output.labels[raw]! };
    throw poison(
      `outcome field "${field}" is ${describe(raw)}; expected one of the model's labels ` +
        `(${output.labels.slice(0, 10).join(', ')}${output.labels.length > 10 ? ', …' : ''}) or its index`,
    );
  }
  const field = shape.valueField!;
  const raw = record[field];
  if (typeof raw === 'number' && Number.isFinite(raw)) return { kind: 'value', value: raw };
  throw poison(`outcome field "${field}" is ${describe(raw)}; expected a finite number`);
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = typeof value; // a BigInt, say
  }
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function poison(message: string): PoisonInputError {
  return new PoisonInputError('feedback', message);
}
