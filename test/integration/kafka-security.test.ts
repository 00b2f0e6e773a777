import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Partitioners } from 'kafkajs';
import { jsonMessage } from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { startSecuredBroker, type SecuredBroker } from '../helpers/secured-broker.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { uniqueName } from '../helpers/unique-name.js';
import { waitFor } from '../helpers/wait-for.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const EVENTS = 300;

describe('a SASL_SSL (SCRAM-SHA-256) cluster', () => {
  let broker: SecuredBroker;
  const workers: WorkerProcess[] = [];

  before(async () => {
    broker = await startSecuredBroker();
  });
  after(async () => {
    for (const worker of workers) await worker.kill('SIGKILL');
    await broker?.stop();
  });

  /** Topics and events on the secured broker, set up over its plaintext loopback listener. */
  async function pipeline(client: string) {
    const input = uniqueName(`secure-${client}-in`);
    const names = { input, output: `${input}-out`, deadLetter: `${input}-dlq` };
    const admin = broker.admin().admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: Object.values(names).map((topic) => ({ topic, numPartitions: 2 })),
    });
    await admin.disconnect();
    const producer = broker
      .admin()
      .producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic: input,
      acks: -1,
      messages: Array.from({ length: EVENTS }, (_, i) => jsonMessage(fraudEvent(i))),
    });
    await producer.disconnect();
    return names;
  }

  function configFor(client: string, names: { input: string; output: string; deadLetter: string }) {
    return {
      kafka: {
        client,
        brokers: [broker.secureBootstrap],
        groupId: `${names.input}-group`,
        inputTopics: [names.input],
        outputTopic: names.output,
        deadLetterTopic: names.deadLetter,
        ssl: { caFile: broker.caFile },
        // The password comes from a file (a mounted secret), never from the YAML.
        sasl: { mechanism: 'scram-sha-256', username: broker.username, passwordFile: '' },
      },
      model: { path: 'models/fraud-mlp/1', device: 'cpu' },
      observability: { logLevel: 'trace' },
    };
  }

  function secretFile(content: string): string {
    const file = join(mkdtempSync(join(tmpdir(), 'secret-')), 'password');
    writeFileSync(file, `${content}\n`);
    return file;
  }

  for (const client of TRANSPORTS) {
    it(`${client}: the right credentials serve every event; the password is in no log line`, async () => {
      const names = await pipeline(client);
      const config = configFor(client, names);
      config.kafka.sasl.passwordFile = secretFile(broker.password);
      // A Redis URL with a password too (the local Redis has none, so the cache fails open and
      // logs why): neither secret may reach a log line, even at trace level.
      const redisPassword = 'redis-secret-Zq81';
      const withCache = {
        ...config,
        cache: { redisUrl: `redis://:${redisPassword}@127.0.0.1:6379` },
      };
      const worker = await WorkerProcess.start(withCache);
      workers.push(worker);
      await worker.waitReady();
      const admin = broker.admin().admin();
      await admin.connect();
      try {
        let produced = 0;
        await waitFor(
          async () => {
            const offsets = await admin.fetchTopicOffsets(names.output);
            produced = offsets.reduce((sum, o) => sum + Number(o.high), 0);
            return produced >= EVENTS;
          },
          { timeoutMs: 60_000, message: () => `${EVENTS} predictions (have ${produced})` },
        );
        assert.equal(produced, EVENTS);
      } finally {
        await admin.disconnect();
      }
      await worker.kill('SIGTERM');
      assert.ok(worker.output.length > 0);
      assert.ok(!worker.output.includes(broker.password), 'the password appears in no log line');
      assert.ok(
        !worker.output.includes(redisPassword),
        'the Redis password appears in no log line',
      );
    });

    it(`${client}: wrong credentials stop start-up with exit 78 and say why`, async () => {
      const names = await pipeline(`${client}-wrong`);
      const config = configFor(client, names);
      config.kafka.sasl.passwordFile = secretFile('not-the-password');
      const worker = await WorkerProcess.start(config);
      workers.push(worker);
      const exit = await Promise.race([
        worker.exited,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`still running:\n${worker.output.slice(-2000)}`)),
            60_000,
          ),
        ),
      ]);
      assert.equal(exit.code, 78, worker.output.slice(-2000));
      assert.match(worker.output, /authenticat/i);
      assert.ok(!worker.output.includes('not-the-password'), 'the wrong password is not logged');
    });
  }
});
