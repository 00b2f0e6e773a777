/**
 * The outcome join's parts on their own: reading outcome records, the in-process store's
 * window, eviction and duplicate rule, scoring (counts, confusion, Brier) and the canary guard.
 * The whole loop runs in delivery-promises (in-memory Kafka) and feedback (the real stack).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config/load-config.js';
import { ConfigError, PoisonInputError } from '../../src/errors.js';
import { CanaryGuard } from '../../src/feedback/canary-guard.js';
import { eventId, type StoredAnswer } from '../../src/feedback/feedback-store.js';
import { InProcessFeedbackStore } from '../../src/feedback/in-process-feedback-store.js';
import { readOutcome, type OutcomeShape } from '../../src/feedback/outcome-record.js';
import { OutcomeScoring } from '../../src/feedback/outcome-scoring.js';
import type { OutputSpec } from '../../src/model/model-manifest.js';
import type { Prediction } from '../../src/model/postprocessor.js';
import { createLogger } from '../../src/observability/logger.js';
import { WorkerMetrics } from '../../src/observability/metrics.js';

const classifier: OutputSpec = {
  name: 'probabilities',
  kind: 'classification',
  labels: ['legit', 'fraud'],
  topK: 2,
};
const regression = { name: 'value', kind: 'regression' } as OutputSpec;
const byLabel: OutcomeShape = {
  idField: 'id',
  labelField: 'is_fraud',
  valueField: undefined,
  output: classifier,
};

const classified = (label: string, confidence: number): Prediction => ({
  kind: 'classification',
  label,
  confidence,
  topK: [
    { label, probability: confidence },
    { label: label === 'legit' ? 'fraud' : 'legit', probability: 1 - confidence },
  ],
});

async function value(metrics: WorkerMetrics, name: string, labels: Record<string, string>) {
  const found = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (
    found?.values
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
      .reduce((sum, v) => sum + v.value, 0) ?? 0
  );
}

describe('outcome records', () => {
  it('reads the id from its field or the key, and the truth as a label name or index', () => {
    assert.deepEqual(readOutcome({ id: 'e1', is_fraud: 'fraud' }, null, byLabel), {
      id: 'e1',
      truth: { kind: 'label', label: 'fraud' },
    });
    assert.deepEqual(readOutcome({ id: 42, is_fraud: 0 }, null, byLabel).truth, {
      kind: 'label',
      label: 'legit',
    });
    const keyed = { ...byLabel, idField: undefined };
    assert.equal(readOutcome({ is_fraud: 1 }, Buffer.from('k-7'), keyed).id, 'k-7');
    const valued = { ...byLabel, labelField: undefined, valueField: 'y', output: regression };
    assert.deepEqual(readOutcome({ id: 'r', y: -2.5 }, null, valued).truth, {
      kind: 'value',
      value: -2.5,
    });
  });

  it('anything the join cannot use is poison at stage feedback, naming the field', () => {
    const cases: [Record<string, unknown>, Buffer | null, OutcomeShape, RegExp][] = [
      [{ is_fraud: 'legit' }, null, byLabel, /field "id"/],
      [{ id: '', is_fraud: 'legit' }, null, byLabel, /field "id"/],
      [{ id: 'x'.repeat(513), is_fraud: 'legit' }, null, byLabel, /field "id"/],
      [{ id: true, is_fraud: 'legit' }, null, byLabel, /field "id"/],
      [{ is_fraud: 1 }, null, { ...byLabel, idField: undefined }, /record key/],
      [{ id: 'e', is_fraud: 'maybe' }, null, byLabel, /"is_fraud" is "maybe".*legit, fraud/],
      [{ id: 'e', is_fraud: 2 }, null, byLabel, /"is_fraud" is 2/],
      [{ id: 'e', is_fraud: 0.5 }, null, byLabel, /"is_fraud" is 0.5/],
      [{ id: 'e' }, null, byLabel, /"is_fraud" is missing/],
      [
        { id: 'e', y: 'NaN' },
        null,
        { ...byLabel, labelField: undefined, valueField: 'y', output: regression },
        /"y" is "NaN"; expected a finite number/,
      ],
    ];
    for (const [record, key, shape, message] of cases) {
      assert.throws(
        () => readOutcome(record, key, shape),
        (error: unknown) =>
          error instanceof PoisonInputError &&
          error.stage === 'feedback' &&
          error.reason === 'invalid-outcome' &&
          message.test(error.message),
        JSON.stringify(record).slice(0, 80),
      );
    }
  });

  it('event ids: text or finite numbers, at most 512 characters', () => {
    assert.equal(eventId('a'), 'a');
    assert.equal(eventId(7), '7');
    assert.equal(eventId(Number.NaN), undefined);
    assert.equal(eventId(null), undefined);
    assert.equal(eventId({}), undefined);
    assert.equal(eventId('x'.repeat(512))?.length, 512);
    assert.equal(eventId('x'.repeat(513)), undefined);
  });
});

describe('in-process feedback store', () => {
  const answer = (role: StoredAnswer['role'], version: string): StoredAnswer => ({
    role,
    version,
    prediction: classified('legit', 0.9),
  });

  it('joins once per event: the same outcome again gets the answers, another is a duplicate', async () => {
    const store = new InProcessFeedbackStore(60_000, 100);
    await store.remember([{ id: 'a', answers: [answer('primary', '1'), answer('shadow', '2')] }]);
    const [first] = await store.join([{ id: 'a', mark: 'o/0/1' }]);
    assert.deepEqual(
      (first as StoredAnswer[]).map((a) => a.role),
      ['primary', 'shadow'],
    );
    const again = await store.join([
      { id: 'a', mark: 'o/0/1' },
      { id: 'a', mark: 'o/1/9' },
      { id: 'b', mark: 'o/0/2' },
    ]);
    assert.equal((again[0] as StoredAnswer[]).length, 2, 'a retry of the same outcome');
    assert.deepEqual(again.slice(1), ['duplicate', 'unmatched']);
  });

  it('forgets answers after the window, and the oldest first when full', async () => {
    let now = 0;
    const store = new InProcessFeedbackStore(1_000, 2, () => now);
    await store.remember([{ id: 'a', answers: [answer('primary', '1')] }]);
    await store.remember([{ id: 'b', answers: [answer('primary', '1')] }]);
    await store.remember([{ id: 'a', answers: [answer('canary', '2')] }]); // refreshed: newest
    await store.remember([{ id: 'c', answers: [answer('primary', '1')] }]); // evicts b
    const results = await store.join(['a', 'b', 'c'].map((id) => ({ id, mark: id })));
    assert.deepEqual(
      (results[0] as StoredAnswer[]).map((a) => a.role),
      ['primary', 'canary'],
    );
    assert.equal(results[1], 'unmatched');
    now = 1_001;
    assert.deepEqual(await store.join([{ id: 'c', mark: 'x' }]), ['unmatched']);
  });
});

describe('outcome scoring', () => {
  it('counts correct and incorrect per version and role, the confusion cell and the Brier score', async () => {
    const metrics = new WorkerMetrics();
    const scoring = new OutcomeScoring('m', classifier, metrics);
    const truth = { kind: 'label', label: 'fraud' } as const;
    scoring.score(truth, [
      { role: 'primary', version: '1', prediction: classified('fraud', 0.8) },
      { role: 'shadow', version: '2', prediction: classified('legit', 0.6) },
    ]);
    scoring.score(truth, [{ role: 'primary', version: '1', prediction: classified('fraud', 1) }]);
    scoring.unmatched(3);
    const count = (labels: Record<string, string>) =>
      value(metrics, 'inference_feedback_total', { model: 'm', ...labels });
    assert.equal(await count({ version: '1', role: 'primary', result: 'correct' }), 2);
    assert.equal(await count({ version: '1', role: 'primary', result: 'incorrect' }), 0);
    assert.equal(await count({ version: '2', role: 'shadow', result: 'incorrect' }), 1);
    assert.equal(await count({ result: 'unmatched' }), 3);
    assert.equal(
      await value(metrics, 'inference_feedback_confusion_total', {
        version: '2',
        predicted: 'legit',
        actual: 'fraud',
      }),
      1,
    );
    const brier = (await metrics.registry.getMetricsAsJSON())
      .find((m) => m.name === 'inference_feedback_brier_score')!
      .values.find(
        (v) =>
          (v as { metricName?: string }).metricName === 'inference_feedback_brier_score_sum' &&
          v.labels.version === '1',
      )!.value;
    // (0.8 − 1)² + (0.2 − 0)² = 0.08, and 0 for the sure right answer.
    assert.ok(Math.abs(brier - 0.08) < 1e-9, String(brier));
    assert.deepEqual(scoring.tally('primary', '1'), { outcomes: 2, correct: 2, absErrorSum: 0 });
  });

  it('regression: the absolute error, matched', async () => {
    const metrics = new WorkerMetrics();
    const scoring = new OutcomeScoring('m', regression, metrics);
    scoring.score({ kind: 'value', value: 10 }, [
      { role: 'primary', version: '1', prediction: { kind: 'regression', value: 7.5 } },
    ]);
    assert.equal(await value(metrics, 'inference_feedback_total', { result: 'matched' }), 1);
    assert.deepEqual(scoring.tally('primary', '1'), { outcomes: 1, correct: 0, absErrorSum: 2.5 });
  });
});

describe('canary guard', () => {
  const pair = { primary: { name: 'm', version: '1' }, canary: { name: 'm', version: '2' } };

  function guarded(kind: 'classification' | 'regression', withdraw: boolean) {
    const metrics = new WorkerMetrics();
    const scoring = new OutcomeScoring(
      'm',
      kind === 'regression' ? regression : classifier,
      metrics,
    );
    const withdrawn: string[] = [];
    const guard = new CanaryGuard(
      { margin: 0.05, minOutcomes: 100, withdraw },
      kind,
      scoring,
      () => pair,
      (canary) => withdrawn.push(canary.version),
      metrics,
      createLogger('silent'),
    );
    return { metrics, scoring, guard, withdrawn };
  }
  const scoreMany = (
    scoring: OutcomeScoring,
    role: 'primary' | 'canary',
    version: string,
    right: number,
    wrong: number,
  ) => {
    const truth = { kind: 'label', label: 'legit' } as const;
    for (let i = 0; i < right + wrong; i++) {
      const label = i < right ? 'legit' : 'fraud';
      scoring.score(truth, [{ role, version, prediction: classified(label, 0.9) }]);
    }
  };

  it('waits for minOutcomes on both sides, then flags once and withdraws', async () => {
    const { metrics, scoring, guard, withdrawn } = guarded('classification', true);
    scoreMany(scoring, 'primary', '1', 95, 5);
    scoreMany(scoring, 'canary', '2', 80, 19); // 99 outcomes: not enough yet
    guard.check();
    assert.deepEqual(withdrawn, []);
    scoreMany(scoring, 'canary', '2', 0, 1); // 80% against 95%
    guard.check();
    guard.check();
    assert.deepEqual(withdrawn, ['2'], 'withdrawn once');
    assert.equal(await value(metrics, 'inference_canary_worse', { canary: '2', primary: '1' }), 1);
  });

  it('within the margin it keeps serving; without withdraw it is only flagged', async () => {
    const close = guarded('classification', true);
    scoreMany(close.scoring, 'primary', '1', 95, 5);
    scoreMany(close.scoring, 'canary', '2', 91, 9); // 4 points below: within 5
    close.guard.check();
    assert.deepEqual(close.withdrawn, []);
    const flagOnly = guarded('classification', false);
    scoreMany(flagOnly.scoring, 'primary', '1', 100, 0);
    scoreMany(flagOnly.scoring, 'canary', '2', 50, 50);
    flagOnly.guard.check();
    assert.deepEqual(flagOnly.withdrawn, []);
    assert.equal(await value(flagOnly.metrics, 'inference_canary_worse', { canary: '2' }), 1);
  });

  it('regression: a mean absolute error above the primary’s by more than the margin', () => {
    const { scoring, guard, withdrawn } = guarded('regression', true);
    for (let i = 0; i < 100; i++) {
      scoring.score({ kind: 'value', value: 0 }, [
        { role: 'primary', version: '1', prediction: { kind: 'regression', value: 1 } },
        { role: 'canary', version: '2', prediction: { kind: 'regression', value: 1.04 } },
      ]);
    }
    guard.check();
    assert.deepEqual(withdrawn, [], '4% more error: within 5%');
    for (let i = 0; i < 100; i++) {
      scoring.score({ kind: 'value', value: 0 }, [
        { role: 'canary', version: '2', prediction: { kind: 'regression', value: 2 } },
      ]);
    }
    guard.check();
    assert.deepEqual(withdrawn, ['2']);
  });
});

describe('feedback config', () => {
  const minimal = {
    kafka: { inputTopics: ['in'], outputTopic: 'out', deadLetterTopic: 'dlq', groupId: 'g' },
    model: { path: 'models/fraud-mlp/1' },
  };
  const rejects = (feedback: unknown, extra: Record<string, unknown>, key: RegExp) =>
    assert.throws(
      () => validateConfig({ ...minimal, ...extra, feedback }),
      (error: unknown) => error instanceof ConfigError && key.test(error.message),
      JSON.stringify(feedback),
    );

  it('takes labelField or valueField, one of them; redis needs cache.redisUrl; no unknown keys', () => {
    const ok = validateConfig({ ...minimal, feedback: { topic: 't', labelField: 'y' } });
    assert.equal(ok.feedback?.windowMs, 7 * 24 * 3_600_000);
    assert.deepEqual(ok.feedback?.canary, { margin: 0.05, minOutcomes: 500, withdraw: false });
    rejects({ topic: 't' }, {}, /feedback\.labelField/);
    rejects({ topic: 't', labelField: 'a', valueField: 'b' }, {}, /feedback\.labelField/);
    rejects({ topic: 't', labelField: 'a', store: 'redis' }, {}, /feedback\.store/);
    rejects({ topic: 't', labelField: 'a', windw: 5 }, {}, /windw/);
    rejects({ topic: 't', labelField: 'a', canary: { margn: 0.1 } }, {}, /margn/);
    rejects({ labelField: 'a' }, {}, /feedback\.topic/);
    rejects({ topic: 't', labelField: 'a' }, { processes: 2 }, /feedback\.store.*processes > 1/);
    const shared = validateConfig({
      ...minimal,
      processes: 2,
      cache: { redisUrl: 'redis://127.0.0.1:6379' },
      feedback: { topic: 't', labelField: 'a' },
    });
    assert.equal(shared.feedback?.store, undefined, 'redis, implied by cache.redisUrl');
  });
});

describe('generated outcomes (kafka-infer feedback --count)', () => {
  it('keep the model’s own label for the asked share of the sample events', async () => {
    const { sampleOutcomes } = await import('../../src/cli/sample-outcomes.js');
    const { sampleEvent } = await import('../../src/cli/sample-events.js');
    const { readModelManifest } = await import('../../src/model/model-manifest.js');
    const { encodeRow, loadReferenceModel } = await import('../helpers/reference-model.js');
    const dir = 'models/fraud-mlp/1';
    const outcomes: Record<string, unknown>[] = [];
    for await (const outcome of sampleOutcomes(dir, 400, 0.75, 'is_fraud')) outcomes.push(outcome);
    const manifest = readModelManifest(dir);
    const reference = loadReferenceModel(dir);
    const said = reference
      .predict(outcomes.map((_, i) => encodeRow(reference.json, sampleEvent(manifest, i))))
      .map((row) => (row[0]! >= row[1]! ? 'legit' : 'fraud'));
    assert.deepEqual(
      outcomes.slice(0, 2).map((o) => o.id),
      ['evt-0', 'evt-1'],
    );
    const kept = outcomes.filter((o, i) => o.is_fraud === said[i]).length / outcomes.length;
    assert.ok(kept > 0.68 && kept < 0.82, `kept ${kept}`);
  });
});
