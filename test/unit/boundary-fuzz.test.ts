/**
 * Property-based tests (fast-check) at the boundaries where outside bytes enter: event values
 * (JSON, and Avro in the Confluent wire format), the featurizer (any value for each declared feature type), postprocessing (any float
 * output, NaN and ±Infinity included), headers (traceparent), config (file values and INFER_*
 * variables), model.json, and the probe/metrics server over raw sockets. Every input yields a
 * value or the typed error the policy classifies; never an unclassified throw. FUZZ_RUNS sets the
 * cases per property (default 300).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { AvroEventDecoder } from '../../src/codec/avro-codec.js';
import { decodeJsonRecord } from '../../src/codec/json-codec.js';
import { loadConfig } from '../../src/config/load-config.js';
import { classifyFailure } from '../../src/error-policy.js';
import { ConfigError, ModelLoadError, PoisonInputError } from '../../src/errors.js';
import { readOutcome } from '../../src/feedback/outcome-record.js';
import { answersOf } from '../../src/feedback/redis-feedback-store.js';
import { Featurizer } from '../../src/model/featurizer.js';
import { readModelManifest, type OutputSpec } from '../../src/model/model-manifest.js';
import { outputWidth, postprocess } from '../../src/model/postprocessor.js';
import { startHealthServer } from '../../src/observability/health-server.js';
import { parseTraceParent } from '../../src/pipeline/trace-context.js';
import { everyFeatureManifest } from '../helpers/every-feature-manifest.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const params = { numRuns: RUNS };

/** Any JSON-ish value, hostile shapes included: deep, wide, prototype keys, huge numbers. */
const hostileValue = fc.oneof(
  fc.jsonValue(),
  fc.double(),
  fc.constantFrom(1e39, -1e39, 3.4028235e38, 3.4028236e38, Number.MAX_VALUE, -0, 5e-324),
  fc.string(),
  fc.array(fc.double(), { maxLength: 8 }),
  fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'toString', 'x'), fc.jsonValue()),
);

describe('JSON event values', () => {
  test('any bytes decode to an object or poison', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          const record = decodeJsonRecord(Buffer.from(bytes));
          assert.equal(typeof record, 'object');
        } catch (error) {
          assert.ok(error instanceof PoisonInputError, String(error));
        }
      }),
      params,
    );
  });

  test('any JSON text decodes to an object or poison', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        try {
          decodeJsonRecord(Buffer.from(JSON.stringify(value) ?? 'null'));
        } catch (error) {
          assert.ok(error instanceof PoisonInputError, String(error));
        }
      }),
      params,
    );
  });

  test('deeply nested and very wide values are values or poison, never a crash', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const wide = `{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    for (const text of [deep, wide, '{"a":1e999}', '{"__proto__":{"amount":1}}']) {
      try {
        decodeJsonRecord(Buffer.from(text));
      } catch (error) {
        assert.ok(error instanceof PoisonInputError, String(error));
      }
    }
  });
});

/**
 * The Avro decoder with the library's real decoding: the writer schema is put in the client's
 * cache under id 7 (as a fetch from the registry would), and the registry itself is unreachable,
 * so an unknown id is a registry outage (retriable), never a crash.
 */
describe('Avro event values (Confluent wire format)', () => {
  const WRITER_ID = 7;
  const writerSchema = JSON.parse(readFileSync('schemas/fraud-transaction.avsc', 'utf8'));
  const writer = avro.Type.forSchema(writerSchema);
  const registry = new SchemaRegistry({ host: 'http://127.0.0.1:1', retry: { retries: 0 } });
  registry.cache.setSchema(WRITER_ID, SchemaType.AVRO, writer as never);
  // The reader schema adds a field with a default: writers may lag behind readers.
  const reader = JSON.stringify({
    ...writerSchema,
    fields: [...writerSchema.fields, { name: 'added', type: 'double', default: 1.5 }],
  });
  const decoder = new AvroEventDecoder(registry, reader);
  const framed = (body: Uint8Array, id = WRITER_ID) => {
    const header = Buffer.alloc(5);
    header.writeInt32BE(id, 1);
    return Buffer.concat([header, body]);
  };
  const settle = async (value: Buffer) => {
    try {
      const record = await decoder.decode(value);
      assert.equal(typeof record, 'object');
      return record;
    } catch (error) {
      assert.ok(
        error instanceof PoisonInputError || classifyFailure(error) === 'retriable',
        String(error),
      );
      return error;
    }
  };

  test('any bytes decode to a record, poison, or a retriable registry outage', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 128 }), async (bytes) => {
        await settle(Buffer.from(bytes));
      }),
      params,
    );
  });

  test('any body after a known schema id is a record or poison', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (body) => {
        const outcome = await settle(framed(body));
        if (outcome instanceof Error) assert.ok(outcome instanceof PoisonInputError);
      }),
      params,
    );
  });

  test("any record the writer's schema allows decodes to itself, resolved to the reader", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (seed) => {
        const value = writer.random() as unknown as Record<string, unknown>;
        value.id = `e${seed}`;
        const record = await decoder.decode(framed(writer.toBuffer(value)));
        assert.equal(record.id, value.id);
        assert.equal(record.amount, value.amount);
        assert.equal(record.added, 1.5);
      }),
      params,
    );
  });

  test('a valid body cut short or with junk after it is poison, never a partial record', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 64 }), fc.boolean(), async (cut, append) => {
        const body = writer.toBuffer(writer.random());
        const damaged = append
          ? Buffer.concat([body, Buffer.alloc(cut, 0xff)])
          : body.subarray(0, Math.max(0, body.length - cut));
        const outcome = await settle(framed(damaged));
        assert.ok(outcome instanceof PoisonInputError, `${append ? 'extended' : 'truncated'} body`);
      }),
      params,
    );
  });
});

const manifest = everyFeatureManifest;

describe('featurizer', () => {
  const featurizer = new Featurizer(manifest);
  const names = ['amount', 'count', 'flag', 'channel', 'vec', 'constructor', 'other'];

  test('any record gives a row of finite float32 values, or poison (stage featurize)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names), hostileValue), (record) => {
        let row: Float32Array;
        const counted: number[] = [];
        const quality = { defaulted: (i: number) => counted.push(i), outOfRange: () => undefined };
        try {
          row = featurizer.encode(record, undefined, 0, quality);
        } catch (error) {
          assert.ok(error instanceof PoisonInputError, String(error));
          assert.equal(error.stage, 'featurize');
          assert.equal(classifyFailure(error), 'poison');
          return;
        }
        assert.equal(row.length, featurizer.width);
        for (const value of row) assert.ok(Number.isFinite(value), `row holds ${value}`);
        assert.ok(
          counted.every((i) => {
            const name = manifest.features[i]!.name;
            return !Object.hasOwn(record, name) || record[name] == null;
          }),
          'only absent fields count as defaulted',
        );
      }),
      params,
    );
  });

  test('a number float32 cannot hold is poison, one it can is kept', () => {
    for (const amount of [1e39, -1e39, Number.MAX_VALUE, 3.4028236e38]) {
      assert.throws(
        () => featurizer.encode({ amount }),
        (error) => error instanceof PoisonInputError && /float32/.test(error.message),
      );
    }
    assert.equal(featurizer.encode({ amount: 3.4028234e38 })[0], Math.fround(3.4028234e38));
  });
});

describe('postprocessing', () => {
  const specs: OutputSpec[] = [
    { name: 'p', kind: 'classification', labels: ['a', 'b', 'c'], topK: 2 },
    { name: 'v', kind: 'regression' },
    { name: 'v', kind: 'regression', interval: true },
  ];
  const anyFloat = fc.oneof(fc.float(), fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, -0, 1));

  for (const spec of specs) {
    const label = `${spec.kind}${'interval' in spec && spec.interval ? ' with interval' : ''}`;
    test(`${label}: any output row is a finite prediction or non-finite-output poison`, () => {
      const width = outputWidth(spec);
      fc.assert(
        fc.property(fc.array(anyFloat, { minLength: width, maxLength: width }), (values) => {
          const row = Float32Array.from(values);
          const result = postprocess(spec, row, 0);
          const finite = values.every((value) => Number.isFinite(Math.fround(value)));
          if (result instanceof PoisonInputError) {
            assert.equal(result.reason, 'non-finite-output');
            assert.ok(!finite);
            return;
          }
          assert.ok(finite, 'a row with NaN or Infinity has no prediction');
          assert.ok(!JSON.stringify(result).includes('null'), JSON.stringify(result));
        }),
        params,
      );
    });
  }
});

describe('outcome records (feedback.topic)', () => {
  const classifier: OutputSpec = {
    name: 'p',
    kind: 'classification',
    labels: ['legit', 'fraud'],
    topK: 2,
  };
  const regression = { name: 'v', kind: 'regression' } as OutputSpec;

  test('any decoded record and key yields an outcome or poison at stage feedback', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('id', 'y', '__proto__', 'x'), hostileValue),
        fc.option(fc.uint8Array({ maxLength: 64 })),
        fc.boolean(),
        fc.boolean(),
        (record, key, byKey, isRegression) => {
          const shape = {
            idField: byKey ? undefined : 'id',
            labelField: isRegression ? undefined : 'y',
            valueField: isRegression ? 'y' : undefined,
            output: isRegression ? regression : classifier,
          };
          try {
            const outcome = readOutcome(record, key ? Buffer.from(key) : null, shape);
            assert.ok(outcome.id.length > 0 && outcome.id.length <= 512);
            if (outcome.truth.kind === 'label')
              assert.ok(classifier.labels.includes(outcome.truth.label));
            else assert.ok(Number.isFinite(outcome.truth.value));
          } catch (error) {
            assert.ok(
              error instanceof PoisonInputError && error.stage === 'feedback',
              String(error),
            );
          }
        },
      ),
      params,
    );
  });
});

describe('answers read back from the feedback store (Redis)', () => {
  test('any reply yields well-formed answers (possibly none), never a throw', () => {
    const answerLike = fc.record(
      {
        role: fc.oneof(fc.constantFrom('primary', 'canary', 'shadow'), hostileValue),
        version: fc.oneof(fc.string(), hostileValue),
        prediction: fc.oneof(
          hostileValue,
          fc.record({
            kind: fc.constantFrom('classification', 'regression'),
            label: hostileValue,
            value: hostileValue,
            topK: fc.oneof(
              hostileValue,
              fc.array(fc.record({ label: hostileValue, probability: hostileValue }), {
                maxLength: 3,
              }),
            ),
          }),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          hostileValue.map((value) => JSON.stringify(value) ?? ''),
          fc.array(answerLike, { maxLength: 4 }).map((answers) => JSON.stringify(answers)),
        ),
        (reply) => {
          for (const { role, version, prediction } of answersOf(reply)) {
            assert.ok(['primary', 'canary', 'shadow'].includes(role));
            assert.equal(typeof version, 'string');
            if (prediction.kind === 'regression') assert.equal(typeof prediction.value, 'number');
            else assert.ok(Array.isArray(prediction.topK) && typeof prediction.label === 'string');
          }
        },
      ),
      params,
    );
  });
});

describe('headers', () => {
  test('traceparent: any header value parses to a valid parent or none', () => {
    const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
    const nearlyValid = fc
      .tuple(hex(2), hex(32), hex(16), hex(2), fc.string({ maxLength: 8 }))
      .map(([v, t, s, f, rest]) => `${v}-${t}-${s}-${f}${rest}`);
    fc.assert(
      fc.property(fc.oneof(fc.string(), nearlyValid, fc.uint8Array()), (value) => {
        const header = typeof value === 'string' ? value : Buffer.from(value);
        const parent = parseTraceParent(header);
        if (parent === undefined) return;
        assert.match(parent.traceId, /^[0-9a-f]{32}$/);
        assert.match(parent.spanId, /^[0-9a-f]{16}$/);
        assert.notEqual(parent.traceId, '0'.repeat(32));
      }),
      params,
    );
  });
});

describe('config', () => {
  let directory: string;
  before(() => (directory = mkdtempSync(path.join(tmpdir(), 'fuzz-config-'))));
  after(() => rmSync(directory, { recursive: true, force: true }));

  const minimal = {
    kafka: { inputTopics: ['in'], outputTopic: 'out', deadLetterTopic: 'dlq', groupId: 'g' },
    model: { path: 'models/fraud-mlp/1' },
  };
  const sections = [
    'kafka',
    'model',
    'batching',
    'cache',
    'limits',
    'observability',
    'delivery',
    'feedback',
    'x',
  ];

  test('any file content is a config or a ConfigError, and never pollutes prototypes', () => {
    const file = path.join(directory, 'config.yaml');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((value) => JSON.stringify(value) ?? ''),
          fc
            .dictionary(fc.constantFrom(...sections), fc.dictionary(fc.string(), hostileValue))
            .map((extra) => JSON.stringify({ ...minimal, ...extra })),
          // A shadow version, with any tolerance (model.shadow.tolerance) and fields.
          fc
            .record(
              { version: hostileValue, topic: hostileValue, tolerance: hostileValue },
              { requiredKeys: [] },
            )
            .map((shadow) =>
              JSON.stringify({
                ...minimal,
                model: { repository: 'models', name: 'fraud-mlp', shadow },
              }),
            ),
          // The shorthand `delivery: exactly-once`, and anything else in its place.
          fc
            .oneof(fc.constantFrom('exactly-once', 'at-least-once'), fc.string(), hostileValue)
            .map((delivery) => JSON.stringify({ ...minimal, delivery })),
        ),
        (text) => {
          writeFileSync(file, text);
          try {
            loadConfig(file, {});
          } catch (error) {
            assert.ok(error instanceof ConfigError, String(error));
            assert.equal(classifyFailure(error), 'fatal');
          }
          assert.equal(({} as Record<string, unknown>).amount, undefined);
        },
      ),
      params,
    );
  });

  test('any INFER_* variables give a config or a ConfigError naming a key', () => {
    const file = path.join(directory, 'minimal.json');
    writeFileSync(file, JSON.stringify(minimal));
    const name = fc
      .array(
        fc.constantFrom(
          'KAFKA',
          'MODEL',
          'BATCHING',
          '__PROTO__',
          'CONSTRUCTOR',
          'MAX_BATCH_SIZE',
          'DELIVERY',
          'GUARANTEE',
          'TRANSACTION_INTERVAL_MS',
          'X',
        ),
        {
          minLength: 1,
          maxLength: 3,
        },
      )
      .map((parts) => `INFER_${parts.join('__')}`);
    fc.assert(
      fc.property(
        fc.dictionary(
          name,
          fc.oneof(
            fc.string(),
            fc.jsonValue().map((value) => JSON.stringify(value) ?? ''),
          ),
        ),
        (env) => {
          try {
            loadConfig(file, env);
          } catch (error) {
            assert.ok(error instanceof ConfigError, String(error));
          }
          assert.equal(Object.getPrototypeOf({}), Object.prototype);
          assert.equal(({} as Record<string, unknown>).KAFKA, undefined);
        },
      ),
      params,
    );
  });
});

describe('model.json', () => {
  let directory: string;
  before(() => (directory = mkdtempSync(path.join(tmpdir(), 'fuzz-model-'))));
  after(() => rmSync(directory, { recursive: true, force: true }));

  test('any model.json is a manifest or a ModelLoadError', () => {
    // Drift references: near-valid ones (shares summing to 1, ascending edges) and hostile ones.
    const reference = fc.oneof(
      fc.record(
        {
          edges: fc.array(fc.oneof(fc.double(), hostileValue), { maxLength: 4 }),
          proportions: fc.array(fc.oneof(fc.double(), hostileValue), { maxLength: 5 }),
        },
        { requiredKeys: [] },
      ),
      fc.integer({ min: 1, max: 4 }).map((bins) => ({
        edges: Array.from({ length: bins - 1 }, (_, i) => i),
        proportions: Array.from({ length: bins }, () => 1 / bins),
      })),
      hostileValue,
    );
    const feature = fc.record(
      {
        name: fc.string(),
        type: fc.constantFrom('number', 'boolean', 'category', 'vector', 'tensor'),
        categories: fc.array(fc.string()),
        length: fc.oneof(fc.integer(), fc.double()),
        default: hostileValue,
        required: fc.boolean(),
        min: hostileValue,
        max: hostileValue,
        outOfRange: fc.oneof(fc.constantFrom('count', 'poison'), hostileValue),
        reference: reference,
      },
      { requiredKeys: ['name', 'type'] },
    );
    const manifestLike = fc.record(
      {
        name: fc.string(),
        version: fc.oneof(fc.string(), fc.integer()),
        input: fc.record({ name: fc.string(), type: fc.constantFrom('float32', 'int64') }),
        output: fc.record({
          name: fc.string(),
          kind: fc.constantFrom('classification', 'regression', 'other'),
          labels: fc.array(fc.string()),
          reference,
        }),
        features: fc.array(feature, { maxLength: 4 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          manifestLike.map((value) => JSON.stringify(value)),
        ),
        (text) => {
          writeFileSync(path.join(directory, 'model.json'), text);
          try {
            readModelManifest(directory);
          } catch (error) {
            assert.ok(error instanceof ModelLoadError, String(error));
          }
        },
      ),
      params,
    );
  });
});

describe('probe and metrics server over raw sockets', () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = await startHealthServer('127.0.0.1', 0, new Registry(), {
      live: () => true,
      ready: () => true,
    });
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());

  /** Sends raw bytes; resolves with what came back before the socket closed (or 2 s passed). */
  function exchange(bytes: Uint8Array | string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      const timer = setTimeout(() => socket.destroy(), 2_000);
      socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(answer);
      });
      socket.end(bytes);
    });
  }

  async function stillServes(): Promise<void> {
    const answer = await exchange('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 200/);
  }

  test('the malformed targets of the report get 400, and the server stays up', async () => {
    for (const target of ['//[', '//[::1', 'http://[', '*', '%zz', '//a:b:c']) {
      const answer = await exchange(
        `GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`,
      );
      assert.match(answer, /^HTTP\/1\.1 (400|404)/, `${target}: ${answer.slice(0, 40)}`);
    }
    await stillServes();
  });

  test('any request line and headers get a response or a closed socket, never a crash', async () => {
    const method = fc.oneof(fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE', 'BREW'), fc.string());
    const target = fc.oneof(
      fc.constantFrom('/metrics', '/healthz', '/readyz', '/readyz?x=1', '/nope'),
      fc.string(),
      fc.webUrl(),
    );
    const header = fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 40 }));
    const request = fc
      .tuple(method, target, fc.array(header, { maxLength: 4 }))
      .map(
        ([m, t, headers]) =>
          `${m} ${t} HTTP/1.1\r\nhost: x\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}connection: close\r\n\r\n`,
      );
    await fc.assert(
      fc.asyncProperty(fc.oneof(request, fc.uint8Array({ maxLength: 512 })), async (bytes) => {
        const answer = await exchange(bytes);
        if (answer !== '') assert.match(answer, /^HTTP\/1\.1 \d{3} /, answer.slice(0, 60));
      }),
      { numRuns: Math.min(RUNS, 200) },
    );
    await stillServes();
  });

  test('a head over the size limit is refused (431), and the server stays up', async () => {
    const answer = await exchange(`GET /metrics HTTP/1.1\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 431/);
    await stillServes();
  });
});
