/**
 * A real Prometheus (Debian's, on loopback) scrapes a worker under load and loads the alert
 * rules. Every metric name the dashboard and the rules reference must exist in what it scraped,
 * and every dashboard panel's query must return at least one series: dashboard, rules and code
 * cannot drift apart unnoticed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ensurePrometheus,
  startPrometheus,
  type RunningPrometheus,
} from '../../deploy/local/prometheus.js';
import { REDIS_URL } from '../../deploy/local/redis.js';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { produceInBackground } from '../helpers/background-producer.js';
import { createTopic, deleteTopics, uniqueName, waitFor } from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  jsonMessage,
  produceMessages,
  fraudModelWithShadow,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { WorkerProcess, freePort } from '../helpers/worker-process.js';

const DASHBOARD = 'deploy/grafana/inference-worker.json';
const RULES = 'deploy/prometheus/rules.yml';

interface Panel {
  title: string;
  targets: { expr: string }[];
}

/** Metric names in PromQL text: the worker's own and the lag metric. */
function metricNames(text: string): string[] {
  return [...new Set(text.match(/\b(?:inference|kafka_consumergroup)_[a-z_]+\b/g) ?? [])];
}

describe('a real Prometheus scrapes the worker; the dashboard and the rules match its metrics', () => {
  let topics: PipelineTopics;
  let worker: WorkerProcess | undefined;
  let prometheus: RunningPrometheus | undefined;
  const shadowTopic = () => `${topics.input}-shadow`;
  const outcomeTopic = () => `${topics.input}-outcomes`;

  before(async () => {
    ensurePrometheus();
    await ensureStackUp();
    topics = await createPipelineTopics('prometheus', 3);
    await createTopic(shadowTopic(), 3);
    await createTopic(outcomeTopic(), 2);
  });
  after(async () => {
    await prometheus?.stop();
    if (worker) await worker.kill('SIGKILL');
    await deletePipelineTopics(topics);
    await deleteTopics([shadowTopic(), outcomeTopic()]);
  });

  it('every referenced metric exists and every panel query returns series', async () => {
    worker = await WorkerProcess.start(
      // A shadow and outcomes too: the agreement and accuracy panels have series to show.
      workerConfigFor(topics, 'models/fraud-mlp/1', {
        model: fraudModelWithShadow(shadowTopic()),
        cache: { redisUrl: REDIS_URL, keyPrefix: uniqueName('prom') },
        feedback: {
          topic: outcomeTopic(),
          idField: 'id',
          labelField: 'is_fraud',
          keyPrefix: uniqueName('prom-feedback'),
        },
        observability: { driftWindow: 500 },
      }),
    );
    await worker.waitReady();
    prometheus = await startPrometheus({
      port: await freePort(),
      targets: [`127.0.0.1:${worker.metricsPort}`],
      ruleFiles: [resolve(RULES)],
    });
    // Load for a while: repeated events (cache hits), and a few bad ones (dead letters).
    const producer = produceInBackground(topics.input, 12_000, 1_000, (i) => fraudEvent(i % 3_000));
    await produceMessages(topics.input, [
      jsonMessage({ id: 'bad-1' }),
      { key: 'bad-2', value: '{' },
    ]);
    const running = prometheus;
    await waitFor(async () => (await running.query('inference_predictions_total')).length > 0, {
      timeoutMs: 30_000,
      message: 'Prometheus to have scraped predictions',
    });
    // Outcomes for events predicted by now, some right and some wrong whatever the version says.
    await produceMessages(
      outcomeTopic(),
      Array.from({ length: 500 }, (_, i) => ({
        key: null,
        value: JSON.stringify({ id: fraudEvent(i).id, is_fraud: i % 4 === 0 ? 'fraud' : 'legit' }),
      })),
    );
    await sleep(8_000); // several scrapes under load, so that rate() has points

    const names = new Set(await prometheus.names());
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
    const queries = dashboard.panels.flatMap((panel) =>
      panel.targets.map((target) => ({ panel: panel.title, expr: target.expr })),
    );
    const referenced = metricNames(
      queries.map((query) => query.expr).join('\n') + readFileSync(RULES, 'utf8'),
    );
    // A histogram's own name (in prose) stands for its _bucket, _sum and _count series. A metric
    // of the other output kind (a regression's absolute error, for this classifier) has no series
    // yet, but the worker declares it.
    const declared = (await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text())
      .split('\n')
      .filter((line) => line.startsWith('# TYPE '))
      .map((line) => line.split(' ')[2]!);
    const exists = (name: string) =>
      [name, `${name}_count`].some((n) => names.has(n)) ||
      declared.includes(name.replace(/_(sum|count|bucket)$/, ''));
    const missing = referenced.filter((name) => !exists(name));
    assert.deepEqual(
      missing,
      [],
      'metric names the dashboard or the rules use but the worker lacks',
    );

    const empty: string[] = [];
    for (const { panel, expr } of queries) {
      if ((await prometheus.query(expr)).length === 0) empty.push(`${panel}: ${expr}`);
    }
    assert.deepEqual(empty, [], 'dashboard queries that return no series');

    const rules = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as {
      data: { groups: { rules: unknown[] }[] };
    };
    assert.equal(rules.data.groups.flatMap((group) => group.rules).length, 11, 'the rules loaded');

    // The metrics endpoint routes by path and answers HEAD.
    const base = `http://127.0.0.1:${worker.metricsPort}`;
    assert.equal((await fetch(`${base}/metrics?x=1`)).status, 200);
    const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');

    const scrape = await (await fetch(`${base}/metrics`)).text();
    const excerpt = scrape
      .split('\n')
      .filter((line) =>
        /^(kafka_consumergroup_lag|inference_predictions_total|inference_feature_drift_psi\{[^}]*feature="amount"|inference_event_age_seconds_(sum|count)|inference_dead_letters_total|inference_worker_ready|inference_model_circuit_open|inference_shadow_agreement_total|inference_output_drift_psi|inference_feedback_total)/.test(
          line,
        ),
      );
    process.stdout.write(
      `# /metrics under load (excerpt):\n${excerpt.map((l) => `#   ${l}`).join('\n')}\n`,
    );
    await producer.done;
  });

  it('exports a lag series for every assigned partition, idle ones included', async () => {
    const idle = await createPipelineTopics('lag-idle', 2);
    const idler = await WorkerProcess.start(workerConfigFor(idle, 'models/fraud-mlp/1'));
    try {
      await idler.waitReady();
      // Partition 0 gets one event, partition 1 none: both must have a series.
      await produceMessages(idle.input, [
        { key: 'one', value: JSON.stringify(fraudEvent(1)), partition: 0 },
      ]);
      const series = await waitFor(
        async () => {
          const text = await (await fetch(`http://127.0.0.1:${idler.metricsPort}/metrics`)).text();
          const lines = text
            .split('\n')
            .filter(
              (line) => line.startsWith('kafka_consumergroup_lag{') && line.includes(idle.input),
            );
          return lines.length === 2 ? lines : undefined;
        },
        { timeoutMs: 30_000, message: 'a kafka_consumergroup_lag series for both partitions' },
      );
      process.stdout.write(
        `# idle partitions' lag:\n${series.map((l) => `#   ${l}`).join('\n')}\n`,
      );
      assert.ok(
        series.some((line) => line.includes('partition="1"')),
        'the idle partition has one',
      );
      await waitFor(async () => (await idler.metric('kafka_consumergroup_lag')) === 0, {
        timeoutMs: 30_000,
        message: 'lag 0 on both partitions once the event is committed',
      });
    } finally {
      await idler.kill('SIGKILL');
      await deletePipelineTopics(idle);
    }
  });
});
