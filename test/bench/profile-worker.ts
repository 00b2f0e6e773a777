/**
 * `npm run bench:profile`: the compiled worker drains a pre-filled backlog of fraud events under
 * `node --cpu-prof`, and the top functions by self time are printed (the profile file stays for
 * a flame graph, e.g. in Chrome DevTools or speedscope). PROFILE_EVENTS (200,000) and
 * PROFILE_CLIENT (librdkafka) choose the load.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REDIS_URL } from '../../deploy/local/redis.js';
import { createTopic, deleteTopics } from '../helpers/kafka-test-helpers.js';
import { jsonMessage, workerConfigFor } from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { FRAUD_MODEL } from './bench-models.js';
import { requireKafkaAndRedis } from './bench-stack.js';
import { fmt, markdownTable, progress } from './bench-table.js';
import { prefilledInput, removePipeline } from './prefilled-input.js';
import { WORKER_OPTIONS } from './throughput.bench.js';
import { drainWithWorker } from './worker-drain.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
}

/** Self time per function (name + file:line), as a share of the main thread's profile. */
export function topSelfTime(profile: CpuProfile, limit: number): string[][] {
  const totals = new Map<string, number>();
  let all = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    all += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*\/(node_modules\/|dist\/|src\/)/, '$1');
    const name = `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`;
    totals.set(name, (totals.get(name) ?? 0) + hits);
  }
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, hits]) => [name.trim(), `${fmt((100 * hits) / all, 1)} %`]);
}

async function main(): Promise<void> {
  const events = Number(process.env.PROFILE_EVENTS ?? 200_000);
  const client = process.env.PROFILE_CLIENT ?? 'librdkafka';
  // PROFILE_FEEDBACK=1: feedback on, predictions kept in the stack's Redis (no outcomes sent).
  const withFeedback = process.env.PROFILE_FEEDBACK === '1';
  await requireKafkaAndRedis();
  const messages = Array.from({ length: events }, (_, i) => jsonMessage(fraudEvent(i)));
  const { topics, end } = await prefilledInput('bench-profile', messages);
  const dir = mkdtempSync(join(tmpdir(), 'worker-profile-'));
  const outcomes = `${topics.input}-outcomes`;
  if (withFeedback) await createTopic(outcomes, 2);
  const feedback = withFeedback
    ? {
        cache: { enabled: false, redisUrl: REDIS_URL },
        feedback: { topic: outcomes, idField: 'id', labelField: 'label', keyPrefix: outcomes },
      }
    : {};
  try {
    const drain = await drainWithWorker(
      topics,
      end,
      workerConfigFor(topics, FRAUD_MODEL.dir, {
        ...WORKER_OPTIONS,
        ...feedback,
        kafka: { ...WORKER_OPTIONS.kafka, client },
      }),
      600_000,
      ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    );
    progress(`drained ${fmt(drain.events)} in ${fmt(drain.seconds, 2)} s`);
    process.stdout.write(
      `fraud-mlp on ${client}: ${fmt(drain.eventsPerSecond)} events/s, mean batch ` +
        `${fmt(drain.meanBatchSize, 1)}\n\n`,
    );
    // The main thread's profile is the largest; inference threads write their own.
    const [main] = readdirSync(dir)
      .filter((name) => name.endsWith('.cpuprofile'))
      .map((name) => ({ name, size: readFileSync(join(dir, name)).length }))
      .sort((a, b) => b.size - a.size);
    if (!main) throw new Error(`no profile was written to ${dir}`);
    const profile = JSON.parse(readFileSync(join(dir, main.name), 'utf8')) as CpuProfile;
    process.stdout.write(
      `${markdownTable(['function (self time)', 'share'], topSelfTime(profile, 15))}\n`,
    );
    process.stdout.write(`\nprofile: ${join(dir, main.name)}\n`);
  } finally {
    await removePipeline(topics);
    if (withFeedback) await deleteTopics([outcomes]);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
