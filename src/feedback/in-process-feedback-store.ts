import type {
  AnswerRole,
  FeedbackStore,
  JoinResult,
  OutcomeKey,
  RememberedEvent,
  StoredAnswer,
} from './feedback-store.js';

interface Entry {
  answers: Map<AnswerRole, StoredAnswer>;
  expiresAt: number;
  joinedBy: string | undefined;
}

/**
 * The feedback store of one process: a Map in insertion order, so the oldest entry goes first
 * when it is full and expired ones are found at its front. Outcomes read by another worker of the
 * group than the one that predicted find nothing here: single-process deployments only.
 */
export class InProcessFeedbackStore implements FeedbackStore {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  remember(events: RememberedEvent[]): Promise<void> {
    const now = this.now();
    for (const { id, answers } of events) {
      let entry = this.entries.get(id);
      if (entry && entry.expiresAt > now)
        this.entries.delete(id); // re-inserted: newest again
      else entry = { answers: new Map(), expiresAt: 0, joinedBy: undefined };
      for (const answer of answers) entry.answers.set(answer.role, answer);
      entry.expiresAt = now + this.windowMs;
      this.entries.set(id, entry);
    }
    this.evict(now);
    return Promise.resolve();
  }

  join(outcomes: OutcomeKey[]): Promise<JoinResult[]> {
    const now = this.now();
    return Promise.resolve(
      outcomes.map(({ id, mark }) => {
        const entry = this.entries.get(id);
        if (!entry || entry.expiresAt <= now) return 'unmatched';
        entry.joinedBy ??= mark;
        return entry.joinedBy === mark ? [...entry.answers.values()] : 'duplicate';
      }),
    );
  }

  close(): Promise<void> {
    this.entries.clear();
    return Promise.resolve();
  }

  private evict(now: number): void {
    for (const [id, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && entry.expiresAt > now) return;
      this.entries.delete(id);
    }
  }
}
