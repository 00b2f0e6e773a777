import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import {
  TOOLS_LOG4J_PROPERTIES,
  javaBinary,
  jvmArgs,
  kafka as localKafka,
  newClusterId,
} from '../../deploy/local/kafka.js';
import { freePort } from './worker-process.js';
import { waitFor } from './wait-for.js';

export interface SecuredBroker {
  /** SASL_SSL listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER), for the worker. */
  secureBootstrap: string;
  /** Plaintext listener on loopback, for the test's own setup and reading. */
  plainBootstrap: string;
  /** PEM of the CA that signed the broker's certificate. */
  caFile: string;
  username: string;
  password: string;
  admin(): Kafka;
  stop(): Promise<void>;
}

/**
 * A second single-node KRaft broker from the same Maven jars, with a SASL_SSL listener whose
 * certificate the test makes with openssl. One user for every mechanism: PLAIN from the
 * listener's JAAS config, SCRAM-SHA-256 and -512 credentials created with Kafka's own
 * kafka-configs (ConfigCommand) over the plaintext listener, and OAUTHBEARER through Kafka's
 * unsecured-JWT validator (its test login: it checks the token's form and expiry, not a signature).
 */
export async function startSecuredBroker(): Promise<SecuredBroker> {
  await localKafka.install();
  const dir = mkdtempSync(join(tmpdir(), 'secured-kafka-'));
  const [plain, secure, controller] = [await freePort(), await freePort(), await freePort()];
  const caFile = makeCertificates(dir);
  // Letters only: PLAIN's users are JAAS option names (user_<name>).
  const username = 'worker';
  const password = `s3cret-${Date.now().toString(36)}`;

  const properties = join(dir, 'server.properties');
  writeFileSync(
    properties,
    `process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller}
listeners=INTERNAL://127.0.0.1:${plain},SECURE://127.0.0.1:${secure},CONTROLLER://127.0.0.1:${controller}
advertised.listeners=INTERNAL://127.0.0.1:${plain},SECURE://127.0.0.1:${secure}
listener.security.protocol.map=INTERNAL:PLAINTEXT,SECURE:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.secure.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${username}="${password}";
listener.name.secure.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secure.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secure.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
ssl.keystore.type=PEM
ssl.keystore.location=${join(dir, 'broker-keystore.pem')}
ssl.truststore.type=PEM
ssl.truststore.location=${caFile}
log.dirs=${join(dir, 'data')}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
`,
  );
  const java = javaBinary();
  const tools = (args: string[]): string =>
    execFileSync(java, [...jvmArgs(TOOLS_LOG4J_PROPERTIES), ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KAFKA_HEAP_OPTS: '-Xmx256m' },
    });
  tools(['kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', properties]);
  const log = openSync(join(dir, 'kafka.log'), 'a');
  const broker: ChildProcess = spawn(
    java,
    [...jvmArgs(TOOLS_LOG4J_PROPERTIES), 'kafka.Kafka', properties],
    {
      stdio: ['ignore', log, log],
      env: { ...process.env, KAFKA_HEAP_OPTS: '-Xms128m -Xmx512m' },
    },
  );
  const plainBootstrap = `127.0.0.1:${plain}`;
  const admin = (): Kafka =>
    new Kafka({
      clientId: 'secured-broker-test',
      brokers: [plainBootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 3 },
    });
  const stop = async (): Promise<void> => {
    if (broker.exitCode !== null) return;
    const exited = new Promise((resolve) => broker.once('exit', resolve));
    broker.kill('SIGKILL');
    await exited;
  };
  // A set-up step that fails must not leave the broker running (it would hold the test open).
  try {
    await waitFor(
      async () => {
        const client = admin().admin();
        try {
          await client.connect();
          return (await client.describeCluster()).brokers.length > 0;
        } catch {
          return false;
        } finally {
          await client.disconnect().catch(() => undefined);
        }
      },
      {
        timeoutMs: 90_000,
        intervalMs: 500,
        message: () =>
          `secured broker up; log:\n${readFileSync(join(dir, 'kafka.log'), 'utf8').slice(-3000)}`,
      },
    );
    // One request per mechanism: the broker refuses to alter one user's credentials twice in one.
    for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512']) {
      tools([
        'kafka.admin.ConfigCommand',
        '--bootstrap-server',
        plainBootstrap,
        '--alter',
        '--add-config',
        `${mechanism}=[iterations=4096,password=${password}]`,
        '--entity-type',
        'users',
        '--entity-name',
        username,
      ]);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    secureBootstrap: `127.0.0.1:${secure}`,
    plainBootstrap,
    caFile,
    username,
    password,
    admin,
    stop,
  };
}

/** A CA and a broker certificate for 127.0.0.1 and localhost; returns the CA's PEM path. */
function makeCertificates(dir: string): string {
  const file = (name: string): string => join(dir, name);
  const openssl = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
  ]);
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    file('broker.key'),
    '-out',
    file('broker.csr'),
  ]);
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl([
    'x509',
    '-req',
    '-in',
    file('broker.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    file('san.ext'),
    '-out',
    file('broker.pem'),
  ]);
  // Kafka's PEM keystore: an unencrypted PKCS#8 key followed by the certificate chain.
  openssl(['pkcs8', '-topk8', '-nocrypt', '-in', file('broker.key'), '-out', file('broker.pk8')]);
  writeFileSync(
    file('broker-keystore.pem'),
    readFileSync(file('broker.pk8'), 'utf8') + readFileSync(file('broker.pem'), 'utf8'),
  );
  return file('ca.pem');
}
