import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Partitioners } from 'kafkajs';
import { jsonMessage } from '../helpers/pipeline-fixture.js';
import { fraudEvent } from '../helpers/sample-events.js';
import { startSecuredBroker, type SecuredBroker } from '../helpers/secured-broker.js';
import { TRANSPORTS, type TransportName } from '../helpers/transports.js';
import { uniqueName } from '../helpers/unique-name.js';
import { waitFor } from '../helpers/wait-for.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const EVENTS = 300;

type Mechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** Every mechanism each client speaks; OAUTHBEARER is librdkafka's alone (kafkajs has no OIDC). */
const LOGINS: { client: TransportName; mechanism: Mechanism | 'oauthbearer-unsecured-jwt' }[] = [
  ...TRANSPORTS.flatMap((client) =>
    (['plain', 'scram-sha-256', 'scram-sha-512'] as const).map((mechanism) => ({
      client,
      mechanism,
    })),
  ),
  { client: 'librdkafka', mechanism: 'oauthbearer-unsecured-jwt' },
];

describe('a SASL_SSL cluster: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER', () => {
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
  async function pipeline(label: string) {
    const input = uniqueName(`secure-${label}-in`);
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

  function baseConfig(
    client: string,
    names: { input: string; output: string; deadLetter: string },
  ) {
    return {
      kafka: {
        client,
        brokers: [broker.secureBootstrap],
        groupId: `${names.input}-group`,
        inputTopics: [names.input],
        outputTopic: names.output,
        deadLetterTopic: names.deadLetter,
        ssl: { caFile: broker.caFile },
      },
      model: { path: 'models/fraud-mlp/1', device: 'cpu' },
      observability: { logLevel: 'trace' },
    };
  }

  /** The password comes from a file (a mounted secret), never from the YAML. */
  function withPassword(
    config: ReturnType<typeof baseConfig>,
    mechanism: Mechanism,
    password: string,
  ) {
    const file = join(mkdtempSync(join(tmpdir(), 'secret-')), 'password');
    writeFileSync(file, `${password}\n`);
    return {
      ...config,
      kafka: {
        ...config.kafka,
        sasl: { mechanism, username: broker.username, passwordFile: file },
      },
    };
  }

  /**
   * OAUTHBEARER with librdkafka's unsecured JWT, through kafka.librdkafka: the worker's own
   * `oauthbearer` mechanism is OIDC, which needs a token endpoint this test does not have.
   */
  function withUnsecuredJwt(config: ReturnType<typeof baseConfig>) {
    return {
      ...config,
      kafka: {
        ...config.kafka,
        librdkafka: {
          'security.protocol': 'sasl_ssl',
          'sasl.mechanisms': 'OAUTHBEARER',
          'enable.sasl.oauthbearer.unsecure.jwt': true,
          'sasl.oauthbearer.config': `principal=${broker.username}`,
        },
      },
    };
  }

  async function predictionsOn(topic: string): Promise<number> {
    const admin = broker.admin().admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, o) => sum + Number(o.high), 0);
    } finally {
      await admin.disconnect();
    }
  }

  for (const { client, mechanism } of LOGINS) {
    it(`${client}, ${mechanism}: the right credentials serve every event; no secret is in a log line`, async () => {
      const names = await pipeline(`${client}-${mechanism}`);
      const base = baseConfig(client, names);
      const config =
        mechanism === 'oauthbearer-unsecured-jwt'
          ? withUnsecuredJwt(base)
          : withPassword(base, mechanism, broker.password);
      // A Redis URL with a password too (the local Redis has none, so the cache fails open and
      // logs why): neither secret may reach a log line, even at trace level.
      const redisPassword = 'redis-secret-Zq81';
      const worker = await WorkerProcess.start({
        ...config,
        cache: { redisUrl: `redis://:${redisPassword}@127.0.0.1:6379` },
      });
      workers.push(worker);
      await worker.waitReady();
      let produced = 0;
      await waitFor(async () => (produced = await predictionsOn(names.output)) >= EVENTS, {
        timeoutMs: 60_000,
        message: () => `${EVENTS} predictions (have ${produced})`,
      });
      // More than one per event is a redelivery: the worker's log says what caused it.
      assert.equal(produced, EVENTS, `worker log:\n${worker.output.slice(-6000)}`);
      await worker.kill('SIGTERM');
      assert.ok(worker.output.length > 0);
      assert.ok(!worker.output.includes(broker.password), 'the password appears in no log line');
      assert.ok(
        !worker.output.includes(redisPassword),
        'the Redis password appears in no log line',
      );
    });
  }

  for (const client of TRANSPORTS) {
    it(`${client}: wrong credentials stop start-up with exit 78 and say why`, async () => {
      const names = await pipeline(`${client}-wrong`);
      const config = withPassword(baseConfig(client, names), 'scram-sha-512', 'not-the-password');
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
