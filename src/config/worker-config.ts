import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { cudaProviderInstalled } from '../model/cuda-provider.js';
import { PREDICTION_HEADER_NAMES } from '../wire-contract.js';

/** A comma-separated string as a list (handy for environment overrides); "" is none. */
function splitCommas(value: unknown): unknown {
  return typeof value === 'string'
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)
    : value;
}

/** A list, or a comma-separated string. */
const stringList = z.preprocess(splitCommas, z.array(z.string().min(1)).min(1));

const positiveInt = z.number().int().min(1);

const headerNameList = z.preprocess(splitCommas, z.array(z.enum(PREDICTION_HEADER_NAMES)));

/** TLS to a server (broker, registry, Redis). Files are PEM. */
export const tlsSchema = z.strictObject({
  /** CA certificate(s) that sign the server's certificate. Default: the system's trust store. */
  caFile: z.string().min(1).optional(),
  /** Client certificate, for mutual TLS. Default: none. */
  certFile: z.string().min(1).optional(),
  /** Client private key, for mutual TLS. Default: none. */
  keyFile: z.string().min(1).optional(),
  /** Passphrase of keyFile, if it is encrypted (or keyPasswordFile). Default: none. */
  keyPassword: z.string().min(1).optional(),
  /** A file holding the passphrase of keyFile, e.g. a mounted secret. Default: none. */
  keyPasswordFile: z.string().min(1).optional(),
  /**
   * Check that the server's certificate names the host connected to. Turn off only for a test
   * cluster whose certificates name no host. Default: true.
   */
  verifyHostname: z.boolean().default(true),
});

/** SASL authentication to the brokers. Secrets come from the environment or files, never only YAML. */
export const saslSchema = z
  .strictObject({
    /** "plain", "scram-sha-256", "scram-sha-512" or "oauthbearer" (OIDC, librdkafka only). */
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer']),
    /** User name (plain, scram). */
    username: z.string().min(1).optional(),
    /** Password (plain, scram); better set by INFER_KAFKA__SASL__PASSWORD or passwordFile. */
    password: z.string().min(1).optional(),
    /** A file holding the password, e.g. a mounted Kubernetes secret. */
    passwordFile: z.string().min(1).optional(),
    /** OAUTHBEARER: the OIDC token endpoint (client-credentials grant). */
    oauthTokenEndpointUrl: z.url().optional(),
    /** OAUTHBEARER: client id. */
    oauthClientId: z.string().min(1).optional(),
    /** OAUTHBEARER: client secret; better set by environment or oauthClientSecretFile. */
    oauthClientSecret: z.string().min(1).optional(),
    /** OAUTHBEARER: a file holding the client secret. */
    oauthClientSecretFile: z.string().min(1).optional(),
    /** OAUTHBEARER: requested scope. Default: none. */
    oauthScope: z.string().min(1).optional(),
  })
  .refine((sasl) => sasl.mechanism === 'oauthbearer' || sasl.username !== undefined, {
    message: 'expected a username for this SASL mechanism',
    path: ['username'],
  })
  .refine(
    (sasl) =>
      sasl.mechanism === 'oauthbearer' ||
      sasl.password !== undefined ||
      sasl.passwordFile !== undefined,
    { message: 'expected password or passwordFile for this SASL mechanism', path: ['password'] },
  )
  .refine(
    (sasl) =>
      sasl.mechanism !== 'oauthbearer' ||
      (sasl.oauthTokenEndpointUrl !== undefined &&
        sasl.oauthClientId !== undefined &&
        (sasl.oauthClientSecret !== undefined || sasl.oauthClientSecretFile !== undefined)),
    {
      message:
        'expected oauthTokenEndpointUrl, oauthClientId and oauthClientSecret (or oauthClientSecretFile)',
      path: ['oauthTokenEndpointUrl'],
    },
  );

/** How to reach the cluster and behave as a group member; shared by the worker and the CLI tools. */
export const kafkaConnectionSchema = z.strictObject({
  /**
   * Kafka client library: "librdkafka" (@confluentinc/kafka-javascript: every compression codec,
   * static membership, cooperative rebalancing, heartbeats off the JS thread), "kafkajs" (pure
   * JavaScript, gzip and snappy only), or "auto": librdkafka when its native module loads, else
   * kafkajs, said at start-up as an error-level line (refused when kafka.groupInstanceId is set,
   * which kafkajs cannot honour). Default: "librdkafka".
   */
  client: z.enum(['auto', 'librdkafka', 'kafkajs']).default('librdkafka'),
  /** Bootstrap brokers. Default: ["127.0.0.1:9092"]. */
  brokers: stringList.default(['127.0.0.1:9092']),
  /** Client id sent to the broker. Default: "kafka-inference-worker". */
  clientId: z.string().min(1).default('kafka-inference-worker'),
  /** Consumer group; every worker of one deployment shares it. Required. */
  groupId: z.string().min(1),
  /**
   * Static membership (librdkafka): a stable id per replica, e.g. the pod name. A restarted
   * member with the same id gets its partitions back without a rebalance. Default: none.
   */
  groupInstanceId: z.string().min(1).optional(),
  /** TLS to the brokers (SSL, or SASL_SSL with sasl). Default: plaintext. */
  ssl: tlsSchema.optional(),
  /** SASL authentication (SASL_PLAINTEXT, or SASL_SSL with ssl). Default: none. */
  sasl: saslSchema.optional(),
  /** Compression of produced records: none, gzip, snappy, lz4, zstd. Default: "none". */
  compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('none'),
  /**
   * Extra librdkafka properties for consumer and producer alike, e.g. { "socket.keepalive.enable":
   * true }; they override the worker's own. Ignored by kafkajs. Default: {}.
   */
  librdkafka: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  /** Start from the earliest offset when the group has no committed offset. Default: true. */
  fromBeginning: z.boolean().default(true),
  /** Broker-side session timeout. Default: 30000. */
  sessionTimeoutMs: positiveInt.default(30_000),
  /** How often the member heartbeats while work is in flight. Default: 3000. */
  heartbeatIntervalMs: positiveInt.default(3_000),
  /** Longest the broker holds a fetch open when there is no data. Default: 500. */
  fetchMaxWaitMs: positiveInt.max(30_000).default(500),
  /** Upper bound on one fetch per partition, in bytes. Default: 1048576. */
  maxBytesPerPartition: positiveInt.default(1_048_576),
});

export const kafkaSchema = kafkaConnectionSchema
  .extend({
    /** Input topics by name. One of inputTopics / inputTopicPattern is required. */
    inputTopics: stringList.optional(),
    /** Input topics by regular expression, e.g. "^transactions\\..*$". */
    inputTopicPattern: z
      .string()
      .min(1)
      .refine(isValidRegExp, { message: 'expected a valid regular expression' })
      .optional(),
    /** Where predictions go. Required. */
    outputTopic: z.string().min(1),
    /** Where bad input goes, with the reason in headers. Required. */
    deadLetterTopic: z.string().min(1),
    /**
     * Provenance headers each prediction carries, any of source.topic, source.partition,
     * source.offset, model.name, model.version, model.provider. The value holds the source and
     * the model either way (all but the provider); headers only spare a reader decoding it. Each
     * costs about 1.6 µs of main-thread time per record in librdkafka's binding: all six cost
     * about a third of the light model's throughput. Trace context and correlation.id are always
     * carried. Default: none.
     */
    predictionHeaders: headerNameList
      .default([])
      .refine((names) => new Set(names).size === names.length, {
        message: 'expected each header name once',
      }),
  })
  .refine((kafka) => Boolean(kafka.inputTopics) !== Boolean(kafka.inputTopicPattern), {
    message: 'expected exactly one of inputTopics or inputTopicPattern',
    path: ['inputTopics'],
  })
  .refine((kafka) => kafka.heartbeatIntervalMs < kafka.sessionTimeoutMs, {
    message: 'expected heartbeatIntervalMs below sessionTimeoutMs',
    path: ['heartbeatIntervalMs'],
  });

const versionName = z
  .string()
  .regex(/^[A-Za-z0-9._-]+$/, { message: 'expected a version folder name' });

export const modelSchema = z
  .strictObject({
    /** One model version folder (model.onnx + model.json). Use this or repository + name. */
    path: z.string().min(1).optional(),
    /** A model repository laid out as <repository>/<name>/<version>/{model.onnx, model.json}. */
    repository: z.string().min(1).optional(),
    /** The model's name in the repository. */
    name: z.string().min(1).optional(),
    /**
     * Version to serve: a folder name, or "latest" (the highest version; a newer one dropped into
     * the repository is loaded, warmed and swapped in). Default: "latest".
     */
    version: z.union([z.literal('latest'), versionName]).default('latest'),
    /** How often to look for a new latest version; 0 disables (SIGHUP still does). Default: 10000. */
    watchIntervalMs: z.number().int().min(0).default(10_000),
    /**
     * Send this share of events (sticky by key) to another version, on `device` when given (a
     * GPU canary beside a CPU primary, say; default: the primary's). Default: none.
     */
    canary: z
      .strictObject({
        version: versionName,
        percent: z.number().min(0).max(100),
        device: z.enum(['auto', 'cpu', 'cuda', 'webgpu']).optional(),
      })
      .optional(),
    /**
     * Also run another version on every event and write its predictions to `topic`; its answers
     * are compared with the primary's (inference_shadow_agreement_total). Default: none.
     */
    shadow: z
      .strictObject({
        version: versionName,
        topic: z.string().min(1),
        /** Regression answers this close (absolute difference) count as agreeing. Default: 0. */
        tolerance: z.number().min(0).default(0),
      })
      .optional(),
    /** Execution provider: auto tries CUDA then falls back to CPU. Default: "auto". */
    device: z.enum(['auto', 'cpu', 'cuda', 'webgpu']).default('auto'),
    /**
     * Inference worker threads per model version, each with its own session, running batches in
     * parallel: a number, or "auto": one per core this process may use (at most 4) on the CPU,
     * one on a GPU (the device runs the batches; WebGPU sessions take turns anyway); with a shadow
     * or a canary on the same device, half of that each (at least one), since both versions share
     * its cores. Default: "auto".
     */
    inferenceThreads: z.union([z.literal('auto'), positiveInt.max(64)]).default('auto'),
    /** ONNX Runtime intra-op threads per session. Default: 1. */
    intraOpThreads: positiveInt.max(256).default(1),
    /**
     * Testing only: block the inference thread this long per batch, as a slow model would, to
     * prove the member stays alive while a batch computes. Default: 0.
     */
    debugInferenceDelayMs: z.number().int().min(0).default(0),
  })
  .refine((model) => Boolean(model.path) !== Boolean(model.repository && model.name), {
    message: 'expected either path, or repository and name',
    path: ['path'],
  })
  .refine((model) => !(model.canary && model.shadow), {
    message: 'expected a canary or a shadow, not both (one worker serves one pipeline)',
    path: ['canary'],
  })
  .refine((model) => !((model.canary || model.shadow) && model.path), {
    message: 'expected repository and name when a canary or shadow version is configured',
    path: ['repository'],
  })
  .transform((model) => {
    // Two versions on one device share its cores: four sessions on two cores took the demo's
    // paced p50 from 24 ms to 146 ms.
    const sharing =
      model.shadow !== undefined ||
      (model.canary !== undefined && (model.canary.device ?? model.device) === model.device);
    const auto = autoInferenceThreads(model.device);
    return {
      ...model,
      inferenceThreads:
        model.inferenceThreads === 'auto'
          ? sharing
            ? Math.max(1, Math.floor(auto / 2))
            : auto
          : model.inferenceThreads,
    };
  });

export const batchingSchema = z.strictObject({
  /** Cut a batch at this many rows. Default: 64. */
  maxBatchSize: positiveInt.max(65_536).default(64),
  /** ... or this long after its first row arrived, whichever comes first. Default: 5. */
  maxBatchDelayMs: z.number().int().min(0).max(60_000).default(5),
  /** Pad each batch with zero rows up to the nearest preferredBatchSizes of model.json. Default: false. */
  padToPreferredBatchSize: z.boolean().default(false),
});

export const flowControlSchema = z
  .strictObject({
    /** Intake from a partition waits while this many of its events are in flight. Default: 2000. */
    maxInFlightPerPartition: positiveInt.default(2_000),
    /** Intake waits everywhere while this many events are in flight. Default: 10000. */
    maxInFlightTotal: positiveInt.default(10_000),
  })
  .refine((flow) => flow.maxInFlightPerPartition <= flow.maxInFlightTotal, {
    message: 'expected maxInFlightPerPartition <= maxInFlightTotal',
    path: ['maxInFlightPerPartition'],
  });

export const DELIVERY_GUARANTEES = ['at-least-once', 'exactly-once'] as const;

export const deliverySchema = z.strictObject({
  /**
   * "at-least-once": outputs are acknowledged, then their input offsets committed; a crash
   * repeats the outputs of the uncommitted window. "exactly-once" (librdkafka only): outputs and
   * input offsets are committed together in Kafka transactions, so that a read_committed reader
   * sees exactly one output per input through crashes, rebalances and zombies; outputs become
   * visible when their transaction commits. `delivery: exactly-once` is short for
   * `delivery: { guarantee: exactly-once }` (INFER_DELIVERY=exactly-once). Default:
   * "at-least-once".
   */
  guarantee: z.enum(DELIVERY_GUARANTEES).default('at-least-once'),
  /**
   * Exactly-once: the open transaction commits this often, and sooner when half of
   * flowControl.maxInFlightTotal waits in it. Readers see outputs this much later. Default: 100.
   */
  transactionIntervalMs: positiveInt.max(60_000).default(100),
  /**
   * Exactly-once: the broker aborts a transaction open longer than this (a killed worker's);
   * read_committed readers of its output partitions wait behind it that long at most. Must be
   * at least 4 × transactionIntervalMs and within the broker's transaction.max.timeout.ms.
   * Default: 10000.
   */
  transactionTimeoutMs: positiveInt.min(1_000).max(900_000).default(10_000),
  /**
   * Exactly-once: the producer's transactional.id, unique per worker process. Default: with
   * kafka.groupInstanceId, "<groupId>.<groupInstanceId>" (stable, so that a restarted member
   * aborts its predecessor's open transaction at once); without, "<groupId>.<random>" (fencing is
   * then by group generation, KIP-447, and a killed worker's transaction times out).
   */
  transactionalId: z.string().min(1).max(200).optional(),
  /** At-least-once: coalesce offset commits over this window. Default: 200. */
  commitIntervalMs: positiveInt.default(200),
  /** First backoff after a failed produce; doubles up to maxRetryBackoffMs. Default: 200. */
  retryBackoffMs: positiveInt.default(200),
  /** Backoff ceiling for produce and commit retries. Default: 10000. */
  maxRetryBackoffMs: positiveInt.default(10_000),
});

export const repliesSchema = z.strictObject({
  /**
   * Request/reply: an input event whose `reply.topic` header names a topic matching this regular
   * expression (anchored: the whole name) also gets its prediction on that topic, with its
   * `correlation.id` header carried back. Any other reply topic is dead-lettered
   * (reason reply-not-allowed). Default: none, so no reply is ever written.
   */
  allowedTopics: z
    .string()
    .min(1)
    .refine(isValidRegExp, { message: 'expected a valid regular expression' })
    .optional(),
});

export const tracingSchema = z.strictObject({
  /**
   * OpenTelemetry: OTLP/HTTP traces endpoint (e.g. "http://otel-collector:4318/v1/traces"). Each
   * event then gets a span, with decode, inference and produce spans under it. Default: none (no
   * spans, no cost).
   */
  otlpEndpoint: z.url().optional(),
  /** service.name of the spans. Default: "kafka-inference-worker". */
  serviceName: z.string().min(1).default('kafka-inference-worker'),
});

export const limitsSchema = z.strictObject({
  /**
   * An input value bigger than this many bytes is dead-lettered (stage "size") before it is
   * decoded, so one huge record cannot cost the worker its memory. Default: 1048576 (1 MiB).
   */
  maxEventBytes: positiveInt.default(1_048_576),
});

export const shutdownSchema = z.strictObject({
  /**
   * Bounds the whole stop on SIGTERM: drain, final commit, disconnects, model release; the
   * process exits within it. Default: 30000.
   */
  deadlineMs: positiveInt.default(30_000),
});

export const observabilitySchema = z
  .strictObject({
    /**
     * Address /metrics, /healthz and /readyz listen on. Default: "127.0.0.1" (loopback only);
     * containers and Kubernetes set "0.0.0.0" so that Prometheus and the kubelet reach them.
     */
    host: z.string().min(1).default('127.0.0.1'),
    /** Port of /metrics, /healthz and /readyz; 0 disables. Default: 9464. */
    port: z.number().int().min(0).max(65_535).default(9_464),
    /** pino log level. Default: "info". */
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
    /** Work in flight with no acknowledgement for this long: /readyz answers 503. Default: 60000. */
    stallAfterMs: positiveInt.default(60_000),
    /** ... for this long: /healthz answers 503 too, so the pod is restarted. Default: 300000. */
    unhealthyAfterMs: positiveInt.default(300_000),
    /** An event loop blocked this long: /healthz answers 503 for a minute after. Default: 30000. */
    maxEventLoopBlockMs: positiveInt.default(30_000),
    /** Rows per half of the sliding window feature drift (PSI) is computed over. Default: 10000. */
    driftWindow: positiveInt.default(10_000),
  })
  .refine((o) => o.stallAfterMs <= o.unhealthyAfterMs, {
    message: 'expected unhealthyAfterMs >= stallAfterMs',
    path: ['unhealthyAfterMs'],
  });

const codecFormat = z.enum(['json', 'avro']);

export const codecSchema = z.strictObject({
  /** Format of input event values: "json", or "avro" in the Confluent wire format. Default: "json". */
  input: codecFormat.default('json'),
  /** Per-topic exceptions to `input`, e.g. { "legacy-transactions": "json" }. Default: {}. */
  inputByTopic: z.record(z.string(), codecFormat).default({}),
  /**
   * Avro reader schema (.avsc) that events resolve to, so writers may evolve (an added field with
   * a default, a removed optional field). Default: decode with each event's writer schema.
   */
  readerSchema: z.string().min(1).optional(),
  /** Format of predictions: "json", or "avro" registered under "<outputTopic>-value". Default: "json". */
  output: codecFormat.default('json'),
  /** Avro schema of predictions. Default: "schemas/prediction.avsc". */
  outputSchema: z.string().min(1).default('schemas/prediction.avsc'),
});

export const schemaRegistrySchema = z.strictObject({
  /** Base URL of a Confluent-compatible registry, e.g. "http://127.0.0.1:8081". Required for avro. */
  url: z.url(),
  /** Basic-auth user (Confluent Cloud: the API key). Default: none. */
  username: z.string().min(1).optional(),
  /** Basic-auth password; better set by environment or passwordFile. Default: none. */
  password: z.string().min(1).optional(),
  /** A file holding the basic-auth password. Default: none. */
  passwordFile: z.string().min(1).optional(),
  /** CA certificate(s) for an https registry with a private CA. Default: the system's. */
  caFile: z.string().min(1).optional(),
  /** First backoff when the registry is unreachable; doubles up to delivery.maxRetryBackoffMs. Default: 500. */
  retryBackoffMs: positiveInt.default(500),
});

export const cacheSchema = z.strictObject({
  /** Serve repeated inputs (redeliveries) from the cache. Default: true. */
  enabled: z.boolean().default(true),
  /**
   * Redis URL, e.g. "redis://127.0.0.1:6379" or "rediss://host:6380" (TLS). Default: none (no
   * cache, or the in-process LRU when maxEntries is set).
   */
  redisUrl: z.string().min(1).optional(),
  /** Redis ACL user name. Default: from the URL, or none. */
  redisUsername: z.string().min(1).optional(),
  /** Redis password; better set by environment or redisPasswordFile. Default: from the URL. */
  redisPassword: z.string().min(1).optional(),
  /** A file holding the Redis password. Default: none. */
  redisPasswordFile: z.string().min(1).optional(),
  /** TLS to Redis (also implied by a rediss:// URL). Default: none. */
  redisTls: tlsSchema.optional(),
  /** Time to live of a cached prediction. Default: 86400 (one day). */
  ttlSeconds: positiveInt.default(86_400),
  /** Key by this event field (an event id) instead of a hash of the feature row. Default: none. */
  keyField: z.string().min(1).optional(),
  /**
   * A Redis command slower than this counts as a miss. It measures the reply as this process
   * sees it, so it must allow for a busy event loop, not just Redis. Default: 250.
   */
  commandTimeoutMs: positiveInt.default(250),
  /**
   * Without a redisUrl: entries kept by an in-process LRU, or 0 for no cache. It serves only
   * redeliveries that come back to the same process (restarts and rebalances mostly do not) and
   * costs about a tenth of the light model's throughput, so it is off unless asked for. Default: 0.
   */
  maxEntries: z.number().int().min(0).default(0),
  /** Redis key prefix. Default: "prediction". */
  keyPrefix: z.string().min(1).default('prediction'),
});

export const feedbackSchema = z
  .strictObject({
    /**
     * Topic of outcomes (ground truth), written by any producer whenever the truth is known, in
     * the input codec (codec.inputByTopic may set another). Each is joined to the prediction made
     * for its event, by whichever worker of the group made it. Required.
     */
    topic: z.string().min(1),
    /**
     * Field naming the event, in the input events and in the outcomes alike (an event id).
     * Default: none, so the record key of both is the id (keyless events are not joined).
     */
    idField: z.string().min(1).optional(),
    /** Classification: the outcome's field holding the true label (its name, or its index). */
    labelField: z.string().min(1).optional(),
    /** Regression: the outcome's field holding the true value. */
    valueField: z.string().min(1).optional(),
    /** How long a prediction waits for its outcome. Default: 604800000 (7 days). */
    windowMs: positiveInt.default(7 * 24 * 3_600_000),
    /**
     * Where predictions wait for their outcomes: "redis" (the cache's Redis, cache.redisUrl,
     * shared by every worker of the group; also when cache.enabled is false) or "memory" (this
     * process only: an outcome read by another worker than the one that predicted is unmatched).
     * Default: "redis" when cache.redisUrl is set, else "memory".
     */
    store: z.enum(['redis', 'memory']).optional(),
    /** The memory store keeps at most this many events' predictions (oldest go first). Default: 1000000. */
    maxEntries: positiveInt.default(1_000_000),
    /** Redis key prefix. Default: "feedback". */
    keyPrefix: z.string().min(1).default('feedback'),
    /** Consumer group that reads the outcomes. Default: "<kafka.groupId>.feedback". */
    groupId: z.string().min(1).optional(),
    /**
     * A canary whose accuracy on joined outcomes falls below the primary's by more than `margin`
     * (regression: whose mean absolute error exceeds the primary's by more than `margin` of it),
     * once each has `minOutcomes`, is logged and flagged (inference_canary_worse), and with
     * `withdraw` taken out of service as after a model fault. Each worker judges the outcomes it
     * joined. Default: margin 0.05, minOutcomes 500, withdraw false.
     */
    canary: z
      .strictObject({
        margin: z.number().min(0).max(1).default(0.05),
        minOutcomes: positiveInt.default(500),
        withdraw: z.boolean().default(false),
      })
      .default({ margin: 0.05, minOutcomes: 500, withdraw: false }),
  })
  .refine((feedback) => Boolean(feedback.labelField) !== Boolean(feedback.valueField), {
    message: 'expected labelField (classification) or valueField (regression), one of them',
    path: ['labelField'],
  });

export const workerConfigSchema = z
  .strictObject({
    /**
     * Worker processes this command runs, each a full group member with its own Kafka clients,
     * model and batches (node:cluster), so that every core runs a main thread; "auto" is one per
     * core this process may use. The first process then supervises them and serves the
     * aggregated /metrics and the probes. Each costs its own memory (model, buffers), and "auto"
     * inference threads are counted per process. Default: 1.
     */
    processes: z.union([z.literal('auto'), positiveInt.max(64)]).default(1),
    kafka: kafkaSchema,
    model: modelSchema,
    codec: codecSchema.default(codecSchema.parse({})),
    schemaRegistry: schemaRegistrySchema.optional(),
    cache: cacheSchema.default(cacheSchema.parse({})),
    batching: batchingSchema.default(batchingSchema.parse({})),
    flowControl: flowControlSchema.default(flowControlSchema.parse({})),
    delivery: z
      .preprocess(
        (value) => (typeof value === 'string' ? { guarantee: value } : value),
        deliverySchema,
      )
      .default(deliverySchema.parse({})),
    limits: limitsSchema.default(limitsSchema.parse({})),
    replies: repliesSchema.default(repliesSchema.parse({})),
    tracing: tracingSchema.default(tracingSchema.parse({})),
    shutdown: shutdownSchema.default(shutdownSchema.parse({})),
    observability: observabilitySchema.default(observabilitySchema.parse({})),
    /** Outcomes joined to predictions: accuracy per version. Default: none. */
    feedback: feedbackSchema.optional(),
  })
  .refine(
    (config) => config.delivery.guarantee !== 'exactly-once' || config.kafka.client !== 'kafkajs',
    {
      message:
        'delivery exactly-once needs kafka.client librdkafka: kafkajs cannot fence a transaction by ' +
        'group generation (its sendOffsets has no consumer group metadata), so a zombie could commit',
      path: ['kafka', 'client'],
    },
  )
  .refine(
    (config) => config.delivery.transactionTimeoutMs >= 4 * config.delivery.transactionIntervalMs,
    {
      message: 'expected transactionTimeoutMs >= 4 × transactionIntervalMs',
      path: ['delivery', 'transactionTimeoutMs'],
    },
  )
  .refine((config) => config.feedback?.store !== 'redis' || config.cache.redisUrl !== undefined, {
    message: 'expected cache.redisUrl: feedback.store "redis" keeps predictions in that Redis',
    path: ['feedback', 'store'],
  })
  .refine(
    (config) =>
      !config.feedback ||
      (config.feedback.store ?? (config.cache.redisUrl ? 'redis' : 'memory')) === 'redis' ||
      (config.processes === 'auto' ? availableParallelism() : config.processes) === 1,
    {
      message:
        'expected feedback.store "redis" (with cache.redisUrl) when processes > 1: a process ' +
        'keeps only its own predictions in memory, so outcomes read by another stay unmatched',
      path: ['feedback', 'store'],
    },
  )
  .refine(
    (config) =>
      config.schemaRegistry !== undefined ||
      (config.codec.input !== 'avro' &&
        config.codec.output !== 'avro' &&
        !Object.values(config.codec.inputByTopic).includes('avro')),
    {
      message: 'expected a schema registry (schemaRegistry.url) when a codec is avro',
      path: ['schemaRegistry', 'url'],
    },
  );

export type WorkerConfig = z.infer<typeof workerConfigSchema>;
export type KafkaOptions = WorkerConfig['kafka'];
export type KafkaConnectionOptions = z.infer<typeof kafkaConnectionSchema>;
export type ModelOptions = WorkerConfig['model'];
export type BatchingOptions = WorkerConfig['batching'];
export type FlowControlOptions = WorkerConfig['flowControl'];
export type DeliveryOptions = WorkerConfig['delivery'];
export type CodecOptions = WorkerConfig['codec'];
export type CacheOptions = WorkerConfig['cache'];
export type RepliesOptions = WorkerConfig['replies'];
export type FeedbackOptions = NonNullable<WorkerConfig['feedback']>;
export type TlsOptions = z.infer<typeof tlsSchema>;
export type SaslOptions = z.infer<typeof saslSchema>;
export type SchemaRegistryOptions = NonNullable<WorkerConfig['schemaRegistry']>;

function isValidRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/**
 * On the CPU, one inference thread per core this process may use, at most 4 (sessions cost
 * memory); on a GPU one, which keeps the device busy without a second copy of the model on it.
 * Device "auto" counts as the device it will pick: CUDA when its provider is installed.
 */
export function autoInferenceThreads(device: string): number {
  const gpu =
    device === 'cuda' || device === 'webgpu' || (device === 'auto' && cudaProviderInstalled());
  if (gpu) return 1;
  return Math.max(1, Math.min(availableParallelism(), 4));
}

/** How many worker processes `processes` asks for on this host. */
export function workerProcessCount(processes: WorkerConfig['processes']): number {
  return processes === 'auto' ? availableParallelism() : processes;
}
