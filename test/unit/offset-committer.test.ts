/**
 * OffsetCommitter: acknowledged prefixes are committed coalesced over one interval, a failed
 * commit is retried at the next tick, revoked lanes are never committed, and an offset that moved
 * during a commit is committed next time rather than forgotten.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OffsetCommitter, type TopicPartitionOffset } from '../../src/pipeline/offset-committer.js';
import { createLogger } from '../../src/observability/logger.js';
import { WorkerMetrics } from '../../src/observability/metrics.js';
import type { PartitionLane } from '../../src/pipeline/partition-lane.js';
import { acknowledgeUpTo, quietLane } from '../helpers/test-lanes.js';

const logger = createLogger('silent');
const INTERVAL = 20;

/** A lane whose acknowledged prefix ends at `lastOffset` (commitOffset = lastOffset + 1). */
function ackedLane(topic: string, partition: number, lastOffset: number): PartitionLane {
  const lane = quietLane(topic, partition);
  acknowledgeUpTo(lane, lastOffset);
  return lane;
}

interface Harness {
  committer: OffsetCommitter;
  calls: TopicPartitionOffset[][];
  metrics: WorkerMetrics;
  /** Queue of results for the next commits: an Error rejects, anything else resolves. */
  script: (Error | 'ok')[];
}

function harness(onCommit?: (offsets: TopicPartitionOffset[]) => Promise<void>): Harness {
  const calls: TopicPartitionOffset[][] = [];
  const script: (Error | 'ok')[] = [];
  const metrics = new WorkerMetrics();
  const committer = new OffsetCommitter(
    async (offsets) => {
      calls.push(structuredClone(offsets));
      await onCommit?.(offsets);
      const next = script.shift();
      if (next instanceof Error) throw next;
    },
    INTERVAL,
    metrics,
    logger,
  );
  return { committer, calls, metrics, script };
}

async function commitCount(metrics: WorkerMetrics, result: 'ok' | 'failed'): Promise<number> {
  const { values } = await metrics.commits.get();
  return values.find((v) => v.labels.result === result)?.value ?? 0;
}

const sortByPartition = (offsets: TopicPartitionOffset[]): TopicPartitionOffset[] =>
  [...offsets].sort((a, b) => a.partition - b.partition);

describe('OffsetCommitter', () => {
  test('many markDirty calls within one interval become one commit', async () => {
    const { committer, calls, metrics } = harness();
    const a = ackedLane('in', 0, 9);
    const b = ackedLane('in', 1, 99);
    committer.markDirty(a);
    acknowledgeUpTo(a, 10);
    committer.markDirty(a);
    committer.markDirty(b);
    acknowledgeUpTo(a, 11);
    committer.markDirty(a);
    assert.equal(calls.length, 0, 'nothing committed before the interval');
    await sleep(INTERVAL * 3);
    assert.equal(calls.length, 1);
    assert.deepEqual(sortByPartition(calls[0]!), [
      { topic: 'in', partition: 0, offset: '12' },
      { topic: 'in', partition: 1, offset: '100' },
    ]);
    assert.equal(a.commitOffset, undefined, 'committed offsets are cleared');
    assert.equal(b.commitOffset, undefined);
    assert.equal(await commitCount(metrics, 'ok'), 1);
    await sleep(INTERVAL * 2);
    assert.equal(calls.length, 1, 'no further commits without new acknowledgements');
  });

  test('flush() commits now and resolves when the commit finished', async () => {
    const { committer, calls } = harness();
    const lane = ackedLane('in', 2, 41);
    committer.markDirty(lane);
    await committer.flush();
    assert.deepEqual(calls, [[{ topic: 'in', partition: 2, offset: '42' }]]);
    committer.stop();
    await sleep(INTERVAL * 2);
    assert.equal(calls.length, 1, 'the pending timer found nothing left to commit');
  });

  test('flush() with nothing dirty sends no commit', async () => {
    const { committer, calls } = harness();
    await committer.flush();
    const lane = quietLane(); // dirty but nothing acknowledged
    committer.markDirty(lane);
    await committer.flush();
    committer.stop();
    assert.equal(calls.length, 0);
  });

  test('a failed commit is retried at the next tick with the latest offset', async () => {
    const { committer, calls, metrics, script } = harness();
    script.push(new Error('coordinator not available'), 'ok');
    const lane = ackedLane('in', 0, 4);
    committer.markDirty(lane);
    await sleep(INTERVAL * 1.5);
    assert.equal(calls.length, 1);
    assert.equal(lane.commitOffset, '5', 'a failed commit does not clear the offset');
    acknowledgeUpTo(lane, 6); // progress while the retry waits
    await sleep(INTERVAL * 3);
    assert.equal(calls.length, 2, 'retried once, then done');
    assert.deepEqual(calls[1], [{ topic: 'in', partition: 0, offset: '7' }]);
    assert.equal(lane.commitOffset, undefined);
    assert.equal(await commitCount(metrics, 'failed'), 1);
    assert.equal(await commitCount(metrics, 'ok'), 1);
  });

  test('a commit that keeps failing keeps being retried', async () => {
    const { committer, calls, script } = harness();
    script.push(new Error('1'), new Error('2'), new Error('3'), 'ok');
    committer.markDirty(ackedLane('in', 0, 0));
    await sleep(INTERVAL * 12); // 20 + at most 20 + 40 + 80 ms of backoff
    committer.stop();
    assert.equal(calls.length, 4);
    assert.ok(calls.every((offsets) => offsets[0]?.offset === '1'));
  });

  test('failed commits are retried with growing waits, not at the interval', async () => {
    const calls: number[] = [];
    const committer = new OffsetCommitter(
      async () => {
        calls.push(performance.now());
        if (calls.length < 5) throw new Error('coordinator unavailable');
      },
      INTERVAL,
      new WorkerMetrics(),
      logger,
      { initialMs: 40, maxMs: 1_000 },
    );
    committer.markDirty(ackedLane('in', 0, 0));
    const deadline = Date.now() + 5_000;
    while (calls.length < 5 && Date.now() < deadline) await sleep(10);
    committer.stop();
    assert.equal(calls.length, 5, 'retried until it succeeded');
    const gaps = calls.slice(1).map((at, i) => at - calls[i]!);
    // Equal jitter: the n-th wait is at least half of 40·2^n ms (timers fire late, never early).
    gaps.forEach((gap, n) => assert.ok(gap >= 20 * 2 ** n - 2, `wait ${n}: ${gap.toFixed(0)} ms`));
  });

  test('revoked lanes are skipped, the others committed', async () => {
    const { committer, calls } = harness();
    const kept = ackedLane('in', 0, 10);
    const revoked = ackedLane('in', 1, 20);
    committer.markDirty(kept);
    committer.markDirty(revoked);
    revoked.revoke();
    await committer.flush();
    committer.stop();
    assert.deepEqual(calls, [[{ topic: 'in', partition: 0, offset: '11' }]]);
  });

  test('a lane revoked while its failed commit waits for a retry is not retried', async () => {
    const { committer, calls, script } = harness();
    script.push(new Error('rebalance in progress'));
    const lane = ackedLane('in', 0, 3);
    committer.markDirty(lane);
    await committer.flush();
    assert.equal(calls.length, 1);
    lane.revoke();
    await sleep(INTERVAL * 3);
    committer.stop();
    assert.equal(calls.length, 1);
  });

  test('an offset that advanced during a commit is not cleared, and is committed next', async () => {
    const lane = ackedLane('in', 0, 10);
    const { committer, calls } = harness(async () => {
      if (calls.length === 1) acknowledgeUpTo(lane, 20); // ack arrives mid-commit
    });
    committer.markDirty(lane);
    await committer.flush();
    assert.deepEqual(calls[0], [{ topic: 'in', partition: 0, offset: '11' }]);
    assert.equal(lane.commitOffset, '21', 'the newer offset survives the older commit');
    committer.markDirty(lane);
    await committer.flush();
    committer.stop();
    assert.deepEqual(calls[1], [{ topic: 'in', partition: 0, offset: '21' }]);
    assert.equal(lane.commitOffset, undefined);
  });

  test('a flush asked for during a commit waits for it, then commits what is new', async () => {
    let active = 0;
    let maxActive = 0;
    let second: Promise<void> | undefined;
    const b = ackedLane('in', 1, 7);
    const h = harness(async () => {
      const { committer } = h;
      active++;
      maxActive = Math.max(maxActive, active);
      if (!second) {
        committer.markDirty(b);
        second = committer.flush();
      }
      await sleep(10);
      active--;
    });
    const { committer } = h;
    committer.markDirty(ackedLane('in', 0, 1));
    await committer.flush();
    await second;
    committer.stop();
    assert.equal(maxActive, 1, 'never two commits at once');
    assert.deepEqual(h.calls, [
      [{ topic: 'in', partition: 0, offset: '2' }],
      [{ topic: 'in', partition: 1, offset: '8' }],
    ]);
  });

  test('stop() cancels a scheduled commit', async () => {
    const { committer, calls } = harness();
    committer.markDirty(ackedLane('in', 0, 1));
    committer.stop();
    await sleep(INTERVAL * 3);
    assert.equal(calls.length, 0);
  });
});
