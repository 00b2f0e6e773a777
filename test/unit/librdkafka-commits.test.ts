import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommitFailedError } from '../../src/errors.js';
import type { RdKafkaError } from '../../src/kafka/librdkafka-binding.js';
import { LibrdkafkaCommits } from '../../src/kafka/librdkafka-commits.js';

const offsets = [
  { topic: 'in', partition: 0, offset: 10 },
  { topic: 'in', partition: 2, offset: 7 },
];

function outcome(promise: Promise<void>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => `rejected: ${(error as Error).message}`,
  );
}

describe('librdkafka commits wait for the coordinator, not the queue', () => {
  it('resolves only when the result for the same offsets arrives', async () => {
    const commits = new LibrdkafkaCommits();
    let sent: unknown;
    let settled = false;
    const done = commits.commit(offsets, (queued) => (sent = queued));
    void done.then(() => (settled = true));
    assert.deepEqual(sent, offsets);
    await Promise.resolve();
    commits.onResult(null, [{ topic: 'in', partition: 0, offset: 3 }]); // someone else's
    await Promise.resolve();
    assert.equal(settled, false);
    commits.onResult(undefined, [...offsets].reverse());
    assert.equal(await outcome(done), 'resolved');
  });

  it('rejects with CommitFailedError when any partition failed, so the committer retries', async () => {
    const commits = new LibrdkafkaCommits();
    const done = commits.commit(offsets, () => undefined);
    const error = Object.assign(new Error('Broker: Not coordinator'), { code: 16 }) as RdKafkaError;
    commits.onResult(error, offsets);
    await assert.rejects(done, (thrown: unknown) => {
      assert.ok(thrown instanceof CommitFailedError);
      assert.match(thrown.message, /Not coordinator/);
      return true;
    });
  });

  it('rejects when librdkafka refuses to queue it, and after close', async () => {
    const commits = new LibrdkafkaCommits();
    const refused = commits.commit(offsets, () => {
      throw new Error('Local: Erroneous state');
    });
    assert.match(await outcome(refused), /rejected: commit failed: Local: Erroneous state/);
    const waiting = commits.commit(offsets, () => undefined);
    commits.close('the consumer is closing');
    assert.equal(await outcome(waiting), 'rejected: commit failed: the consumer is closing');
    assert.match(await outcome(commits.commit(offsets, () => undefined)), /closing/);
  });
});
