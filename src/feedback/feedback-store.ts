import type { Prediction } from '../model/postprocessor.js';

/** Which part a version played when it answered: what the outcome is scored under. */
export type AnswerRole = 'primary' | 'canary' | 'shadow';

/** One version's acknowledged answer to an event, kept until its outcome arrives. */
export interface StoredAnswer {
  version: string;
  role: AnswerRole;
  prediction: Prediction;
}

/** The answers given to one event, by its id. */
export interface RememberedEvent {
  id: string;
  answers: StoredAnswer[];
}

/**
 * One outcome to join: the event's id, and the outcome record's own coordinates, which mark the
 * event as joined. The same outcome joined again (a retry, a redelivery) gets the answers again;
 * another outcome for an event already joined is a duplicate, counted once.
 */
export interface OutcomeKey {
  id: string;
  mark: string;
}

export type JoinResult = 'unmatched' | 'duplicate' | StoredAnswer[];

/**
 * Where acknowledged predictions wait for their outcomes (feedback.windowMs): Redis, shared by
 * every worker of the group, or this process's memory.
 */
export interface FeedbackStore {
  /** Keeps (or refreshes) answers for the window; rejects when the store refused them. */
  remember(events: RememberedEvent[]): Promise<void>;
  /** One result per key, in order; rejects (retriable) when the store cannot answer now. */
  join(outcomes: OutcomeKey[]): Promise<JoinResult[]>;
  close(): Promise<void>;
}

/** Longest event id joined; a longer one is treated as no id (it would only bloat the store). */
export const MAX_EVENT_ID_LENGTH = 512;

/**
 * An event's id as the join sees it: a non-empty string or a finite number, as text; anything
 * else (objects, booleans, empty or overlong text) is no id.
 */
export function eventId(value: unknown): string | undefined {
  let id: string;
  if (typeof value === 'string') id = value;
  else if (typeof value === 'number' && Number.isFinite(value)) id = String(value);
  else if (typeof value === 'bigint') id = value.toString();
  else return undefined;
  return id.length > 0 && id.length <= MAX_EVENT_ID_LENGTH ? id : undefined;
}
