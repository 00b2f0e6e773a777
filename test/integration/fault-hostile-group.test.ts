/**
 * Fault suite, a group under attack: two workers in one group read JSON events where hostile
 * ones (numbers float32 cannot hold, wrong types, prototype keys, deep nesting, very wide
 * objects, long strings, bad UTF-8, junk headers) sit among good ones, while junk HTTP (the
 * unparsable targets that used to crash the probe server, random bytes, half-open and slow
 * clients) hits each worker's probe/metrics port. Both stay up and live, every good event is
 * predicted, every input offset is accounted for, and every prediction's numbers are finite.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Message } from 'kafkajs';
import { ensureStackUp } from '../../deploy/local/stack.js';
import { checkDelivery, describeReport } from '../helpers/delivery-check.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  produceMessages,
  readOutputs,
  workerConfigFor,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { fraudEvent, mulberry32 } from '../helpers/sample-events.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const GOOD = 3_000;

/** Hostile values, each with the dead-letter reason it must get (undefined: may be predicted). */
const HOSTILE: { name: string; reason?: string; make: (i: number) => Message }[] = [
  { name: 'amount 1e39', reason: 'invalid-feature', make: (i) => json(i, { amount: 1e39 }) },
  { name: 'amount -3.5e38', reason: 'invalid-feature', make: (i) => json(i, { amount: -3.5e38 }) },
  { name: 'amount as text', reason: 'invalid-feature', make: (i) => json(i, { amount: '12' }) },
  { name: 'amount as object', reason: 'invalid-feature', make: (i) => json(i, { amount: {} }) },
  {
    name: 'deep nesting',
    reason: 'malformed',
    make: (i) => raw(i, '['.repeat(50_000) + ']'.repeat(50_000)),
  },
  { name: 'a JSON array', reason: 'malformed', make: (i) => raw(i, '[1,2,3]') },
  { name: 'bad UTF-8', reason: 'malformed', make: (i) => raw(i, Buffer.from([0xff, 0xfe, 0x7b])) },
  { name: 'truncated', reason: 'malformed', make: (i) => raw(i, '{"amount": 1') },
  { name: 'empty', reason: 'empty', make: (i) => raw(i, Buffer.alloc(0)) },
  {
    name: 'a reply topic not allowed',
    reason: 'reply-not-allowed',
    make: (i) => ({ ...json(i, {}), headers: { 'reply.topic': 'internal-audit' } }),
  },
  {
    name: 'prototype keys',
    make: (i) =>
      raw(i, `{"__proto__":{"amount":1e39},"constructor":{"prototype":{}},${body(i).slice(1)}`),
  },
  {
    name: 'a very wide object',
    make: (i) =>
      raw(
        i,
        `{${Array.from({ length: 20_000 }, (_, k) => `"f${k}":${k}`).join(',')},${body(i).slice(1)}`,
      ),
  },
  { name: 'a long string field', make: (i) => json(i, { note: 'x'.repeat(200_000) }) },
  {
    name: 'junk headers',
    make: (i) => ({
      ...json(i, {}),
      headers: {
        traceparent: 'zz-not-a-trace',
        'correlation.id': Buffer.from([0xff, 0x00, 0xfe]),
        tracestate: '\u0000'.repeat(64),
      },
    }),
  },
];

function body(i: number, patch: object = {}): string {
  return JSON.stringify({ ...fraudEvent(i), ...patch });
}
function json(i: number, patch: object): Message {
  return { key: `hostile-${i}`, value: body(100_000 + i, patch) };
}
function raw(i: number, value: string | Buffer): Message {
  return { key: `hostile-${i}`, value };
}

/** Junk at a worker's probe/metrics port; resolves when each exchange ended or timed out. */
async function junkHttp(port: number, random: () => number): Promise<Socket[]> {
  const once = (bytes: string | Buffer, end = true) =>
    new Promise<Socket>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.on('connect', () => {
        if (end) socket.end(bytes);
        else socket.write(bytes);
        resolve(socket);
      });
    });
  const sockets: Socket[] = [];
  for (const target of ['//[', '//[::1', 'http://[', '*', '%zz%', '//a:b:c']) {
    sockets.push(await once(`GET ${target} HTTP/1.1\r\nhost: x\r\n\r\n`));
  }
  sockets.push(await once(Buffer.from(Array.from({ length: 300 }, () => random() * 256))));
  sockets.push(await once(`GET /metrics HTTP/1.1\r\nx: ${'a'.repeat(30_000)}\r\n\r\n`));
  // Half-open and slow: a head that never ends. The server's timeouts close them.
  for (let k = 0; k < 5; k++)
    sockets.push(await once('GET /metrics HTTP/1.1\r\nhost: x\r\n', false));
  return sockets;
}

describe('fault suite: a group of two under hostile events and junk HTTP', () => {
  let topics: PipelineTopics;
  const workers: WorkerProcess[] = [];

  before(async () => {
    await ensureStackUp();
    topics = await createPipelineTopics('fault-group', 6);
  });
  after(async () => {
    for (const worker of workers) await worker.kill('SIGKILL');
    await deletePipelineTopics(topics);
  });

  it('both stay up and live, every good event predicted, every input accounted for', async () => {
    const config = workerConfigFor(topics, 'models/fraud-mlp/1', {
      replies: { allowedTopics: 'replies-.*' },
    });
    for (let k = 0; k < 2; k++) workers.push(await WorkerProcess.start(config));
    await Promise.all(workers.map((worker) => worker.waitReady()));

    const messages: Message[] = [];
    const expectedReasons: Record<string, number> = {};
    let hostile = 0;
    for (let i = 0; i < GOOD; i++) {
      const event = fraudEvent(i);
      messages.push({ key: event.id, value: JSON.stringify(event) });
      if (i % 50 === 0) {
        const kind = HOSTILE[hostile % HOSTILE.length]!;
        messages.push(kind.make(hostile));
        if (kind.reason) expectedReasons[kind.reason] = (expectedReasons[kind.reason] ?? 0) + 1;
        hostile++;
      }
    }
    const random = mulberry32(11);
    const attacks = workers.map((worker) => junkHttp(worker.metricsPort, random));
    await produceMessages(topics.input, messages, 500);
    const sockets = (await Promise.all(attacks)).flat();

    const report = await checkDelivery(topics);
    process.stdout.write(describeReport('hostile group', report));
    for (const socket of sockets) socket.destroy();
    assert.deepEqual(report.lost, [], 'every input offset has an output');
    assert.equal(report.inputs, GOOD + hostile);
    assert.equal(report.duplicates, 0);
    assert.equal(report.orderViolations, 0);
    for (const [reason, count] of Object.entries(expectedReasons)) {
      assert.ok(
        (report.deadLettersByReason[reason] ?? 0) >= count,
        `${reason}: ${JSON.stringify(report.deadLettersByReason)}`,
      );
    }
    const { predictions } = await readOutputs(topics, report.inputs);
    const good = new Set(Array.from({ length: GOOD }, (_, i) => fraudEvent(i).id));
    const predictedGood = predictions.filter((record) => good.has(record.key?.toString() ?? ''));
    assert.equal(new Set(predictedGood.map((r) => r.key!.toString())).size, GOOD, 'every good one');
    for (const record of predictions) {
      const value = record.value!.toString();
      // A classification's value is null by design; its scores never are.
      const prediction = JSON.parse(value) as {
        confidence?: unknown;
        topK?: { probability: unknown }[];
      };
      assert.ok(Number.isFinite(prediction.confidence), value.slice(0, 200));
      for (const entry of prediction.topK ?? []) assert.ok(Number.isFinite(entry.probability));
    }
    for (const worker of workers) {
      assert.equal(worker.child.exitCode, null, `worker ${worker.pid} is still running`);
      assert.equal(await worker.status('/healthz'), 200);
      assert.equal(await worker.status('/readyz'), 200);
    }
  });
});
