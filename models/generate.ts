/**
 * Generates the example model repository deterministically:
 *
 *   models/fraud-mlp/1/{model.onnx,model.json}      tabular fraud classifier (30 floats -> 2 classes)
 *   models/fraud-mlp/2/{model.onnx,model.json}      same architecture and features, other weights
 *   models/embedding-mlp/1/{model.onnx,model.json}  heavy 256 -> 1024 -> 18 weight-tied residual
 *                                                   blocks -> 10 classes (batching matters)
 *   models/<name>/example-event.json                one input event per model
 *
 * Usage: npx tsx models/generate.ts [outDir]    (outDir defaults to this script's directory)
 *
 * Weights come from fixed-seed mulberry32 streams and the protobuf encoding has no timestamps, so two
 * runs produce byte-identical files (test/unit/reference-model.test.ts checks this against the
 * committed files). Graphs use only MatMul, Add, Mul, Relu and Softmax(axis=-1) from the default
 * domain, opset 17, IR version 8, float32 initializers stored as little-endian raw_data, and a
 * dynamic batch dimension (dim_param "batch") on the input and output.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import * as prettier from 'prettier';
import { encodeRow, loadReferenceModel } from '../test/helpers/reference-model.js';
import { embeddingEvent, fraudEvent, mulberry32 } from '../test/helpers/sample-events.js';

const { onnx } = onnxProto;

const IR_VERSION = 8;
const OPSET = 17;
const PRODUCER = 'kafka-inference-worker models/generate.ts';
const FLOAT = onnx.TensorProto.DataType.FLOAT;

// ---------------------------------------------------------------------------------------------
// model.json shape (what the worker reads)

/** Training distribution of a feature, for drift monitoring: bins split at `edges`. */
interface Reference {
  edges: number[];
  proportions: number[];
}

/** Training shares of a category feature's values, or of a classifier's top labels. */
interface Shares {
  proportions: number[];
}

type FeatureSpec =
  | {
      name: string;
      type: 'number';
      required?: boolean;
      default?: number;
      doc?: string;
      reference?: Reference;
      /** The range training saw; values outside it are counted by the worker. */
      min?: number;
      max?: number;
    }
  | {
      name: string;
      type: 'boolean';
      required?: boolean;
      default?: boolean;
      doc?: string;
      reference?: Reference;
    }
  | {
      name: string;
      type: 'category';
      categories: string[];
      required?: boolean;
      default?: string;
      doc?: string;
      reference?: Shares;
    }
  | {
      name: string;
      type: 'vector';
      length: number;
      required?: boolean;
      doc?: string;
      /** Bins over the vector's Euclidean norm. */
      reference?: Reference;
    };

export interface ModelJson {
  name: string;
  version: string;
  description: string;
  input: { name: string; type: 'float32' };
  output:
    | { name: string; kind: 'classification'; labels: string[]; topK: number; reference?: Shares }
    | { name: string; kind: 'regression' };
  features: FeatureSpec[];
  /** Providers to try, in order, when the worker's device is "auto". */
  executionProviders: ('cuda' | 'webgpu' | 'cpu')[];
  preferredBatchSizes: number[];
  maxBatchSize: number;
}

function featureWidth(f: FeatureSpec): number {
  switch (f.type) {
    case 'number':
    case 'boolean':
      return 1;
    case 'category':
      return f.categories.length;
    case 'vector':
      return f.length;
  }
}

// ---------------------------------------------------------------------------------------------
// Seeded weights

class WeightRng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** rows x cols with every column shifted to sum to zero (maps the all-ones vector to 0). */
  centeredMatrix(rows: number, cols: number, std: number): Float32Array {
    const m = this.matrix(rows, cols, std);
    for (let j = 0; j < cols; j++) {
      let sum = 0;
      for (let i = 0; i < rows; i++) sum += m[i * cols + j] as number;
      const mean = sum / rows;
      for (let i = 0; i < rows; i++) m[i * cols + j] = (m[i * cols + j] as number) - mean;
    }
    return m;
  }
  /** rows x cols, row-major, entries ~ N(0, std^2). */
  matrix(rows: number, cols: number, std: number): Float32Array {
    const m = new Float32Array(rows * cols);
    for (let i = 0; i < m.length; i++) m[i] = this.normal() * std;
    return m;
  }
}

// ---------------------------------------------------------------------------------------------
// ONNX building blocks

interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array;
}

function tensorProto(init: Initializer): OnnxTypes.ITensorProto {
  const expected = init.dims.reduce((a, b) => a * b, 1);
  if (expected !== init.data.length) {
    throw new Error(`${init.name}: dims ${init.dims.join('x')} != ${init.data.length} values`);
  }
  const raw = new Uint8Array(init.data.length * 4);
  const view = new DataView(raw.buffer);
  init.data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return { name: init.name, dims: init.dims, dataType: FLOAT, rawData: raw };
}

function valueInfo(name: string, width: number): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] },
      },
    },
  };
}

function node(
  opType: string,
  inputs: string[],
  output: string,
  attributes: OnnxTypes.IAttributeProto[] = [],
): OnnxTypes.INodeProto {
  return {
    opType,
    input: inputs,
    output: [output],
    name: output,
    domain: '',
    attribute: attributes,
  };
}

interface DenseLayer {
  /** Initializer name of the weight; layers may share (tie) one weight matrix by name. */
  weightName: string;
  weight: Float32Array; // [in, out] row-major
  bias: Float32Array; // [out]
  relu: boolean;
  /**
   * Residual connection ending here: adds the input of the layer `residualOver - 1` layers back
   * (1 = this layer's own input) to this layer's output. Widths must match.
   */
  residualOver?: number;
}

interface MlpSpec {
  graphName: string;
  docString: string;
  inputName: string;
  outputName: string;
  inputWidth: number;
  /** Optional per-column normalization x * scale + offset applied first. */
  normalization?: { scale: Float32Array; offset: Float32Array };
  layers: DenseLayer[];
  metadata: Record<string, string>;
  /** ModelProto.model_version (the model.json version as an integer). */
  modelVersion: number;
}

/** Input -> [Mul, Add] -> (MatMul, Add, Relu?, residual Add?)* -> Softmax(axis=-1) -> output. */
function buildMlp(spec: MlpSpec): Uint8Array {
  const nodes: OnnxTypes.INodeProto[] = [];
  const inits: Initializer[] = [];
  let current = spec.inputName;
  let width = spec.inputWidth;

  if (spec.normalization) {
    inits.push({ name: 'norm_scale', dims: [width], data: spec.normalization.scale });
    inits.push({ name: 'norm_offset', dims: [width], data: spec.normalization.offset });
    nodes.push(node('Mul', [current, 'norm_scale'], 'scaled'));
    nodes.push(node('Add', ['scaled', 'norm_offset'], 'normalized'));
    current = 'normalized';
  }

  const weights = new Map<string, Float32Array>();
  const layerInputs: { name: string; width: number }[] = [];
  spec.layers.forEach((layer, idx) => {
    layerInputs.push({ name: current, width });
    const k = idx + 1;
    const out = layer.bias.length;
    if (layer.weight.length !== width * out) throw new Error(`layer ${k}: bad weight size`);
    const known = weights.get(layer.weightName);
    if (known === undefined) {
      weights.set(layer.weightName, layer.weight);
      inits.push({ name: layer.weightName, dims: [width, out], data: layer.weight });
    } else if (known !== layer.weight) {
      throw new Error(`layer ${k}: weight name ${layer.weightName} reused for other values`);
    }
    inits.push({ name: `dense${k}_bias`, dims: [out], data: layer.bias });
    nodes.push(node('MatMul', [current, layer.weightName], `dense${k}_matmul`));
    nodes.push(node('Add', [`dense${k}_matmul`, `dense${k}_bias`], `dense${k}`));
    current = `dense${k}`;
    if (layer.relu) {
      nodes.push(node('Relu', [current], `relu${k}`));
      current = `relu${k}`;
    }
    if (layer.residualOver !== undefined) {
      const skip = layerInputs[idx + 1 - layer.residualOver];
      if (!skip || skip.width !== out) throw new Error(`layer ${k}: bad residual connection`);
      nodes.push(node('Add', [skip.name, current], `residual${k}`));
      current = `residual${k}`;
    }
    width = out;
  });

  nodes.push(
    node('Softmax', [current], spec.outputName, [
      { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 },
    ]),
  );

  const model: OnnxTypes.IModelProto = {
    irVersion: IR_VERSION,
    producerName: PRODUCER,
    producerVersion: '1',
    domain: 'kafka-inference-worker.examples',
    modelVersion: spec.modelVersion,
    docString: spec.docString,
    opsetImport: [{ domain: '', version: OPSET }],
    metadataProps: Object.entries(spec.metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: spec.graphName,
      docString: spec.docString,
      node: nodes,
      initializer: inits.map(tensorProto),
      input: [valueInfo(spec.inputName, spec.inputWidth)],
      output: [valueInfo(spec.outputName, width)],
    },
  };
  const message = onnx.ModelProto.fromObject(model);
  const err = onnx.ModelProto.verify(message);
  if (err) throw new Error(`invalid ModelProto: ${err}`);
  return onnx.ModelProto.encode(message).finish();
}

function denseStack(
  rng: WeightRng,
  sizes: number[],
  opts: { outputStd: number; outputBias?: number[] },
): DenseLayer[] {
  const layers: DenseLayer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const fanIn = sizes[i] as number;
    const fanOut = sizes[i + 1] as number;
    const last = i + 2 === sizes.length;
    // He init for ReLU layers; a smaller scale on the logits layer keeps softmax away from 0/1.
    const std = last ? opts.outputStd / Math.sqrt(fanIn) : Math.sqrt(2 / fanIn);
    // Column-centered logits weights ignore the common positive offset of the ReLU features.
    const weight = last ? rng.centeredMatrix(fanIn, fanOut, std) : rng.matrix(fanIn, fanOut, std);
    const bias = rng.matrix(1, fanOut, 0.01);
    if (last && opts.outputBias) opts.outputBias.forEach((b, j) => (bias[j] = (bias[j] ?? 0) + b));
    layers.push({ weightName: `dense${i + 1}_weight`, weight, bias, relu: !last });
  }
  return layers;
}

// ---------------------------------------------------------------------------------------------
// fraud-mlp

interface FraudFeature {
  spec: FeatureSpec;
  /** Normalization statistics for numeric columns (x - mean) / std. */
  mean?: number;
  std?: number;
}

const num = (
  name: string,
  mean: number,
  std: number,
  opts: { required?: boolean; default?: number; doc: string; min?: number; max?: number },
): FraudFeature => ({
  spec: {
    name,
    type: 'number',
    ...(opts.required ? { required: true } : { default: opts.default ?? 0 }),
    doc: opts.doc,
    ...(opts.min !== undefined ? { min: opts.min } : {}),
    ...(opts.max !== undefined ? { max: opts.max } : {}),
  },
  mean,
  std,
});
const bool = (name: string, dflt: boolean, doc: string): FraudFeature => ({
  spec: { name, type: 'boolean', default: dflt, doc },
});

const FRAUD_FEATURES: FraudFeature[] = [
  num('amount', 80, 140, { required: true, doc: 'transaction amount in EUR', min: 0 }),
  num('hour_of_day', 13, 5.5, {
    required: true,
    doc: 'local hour of the transaction, 0-23',
    min: 0,
    max: 23,
  }),
  num('day_of_week', 3, 2, { default: 3, doc: '0 = Monday ... 6 = Sunday', min: 0, max: 6 }),
  num('account_age_days', 900, 900, { required: true, doc: 'days since the account opened' }),
  num('merchant_risk', 0.28, 0.3, {
    default: 0.1,
    doc: 'merchant risk score, 0-1',
    min: 0,
    max: 1,
  }),
  num('txn_count_1h', 0.5, 1, { default: 0, doc: 'transactions on this card, last hour' }),
  num('txn_count_24h', 4, 4.5, { default: 0, doc: 'transactions on this card, last 24 h' }),
  num('amount_sum_24h', 250, 400, { default: 0, doc: 'EUR spent on this card, last 24 h' }),
  num('avg_amount_30d', 60, 60, { default: 50, doc: 'mean transaction amount, last 30 days' }),
  num('amount_to_avg_ratio', 2.6, 8.5, { default: 1, doc: 'amount / avg_amount_30d' }),
  num('distance_from_home_km', 25, 40, { default: 0, doc: 'distance from billing address' }),
  num('minutes_since_last_txn', 700, 900, {
    default: 1440,
    doc: 'minutes since the previous transaction on this card',
  }),
  num('failed_logins_24h', 0.35, 1.2, {
    default: 0,
    doc: 'failed logins on the account, last 24 h',
  }),
  num('card_age_days', 360, 365, { default: 365, doc: 'days since the card was issued' }),
  num('num_devices_30d', 1.6, 0.9, { default: 1, doc: 'distinct devices used, last 30 days' }),
  num('ip_risk_score', 0.25, 0.25, {
    default: 0,
    doc: 'IP reputation risk score, 0-1',
    min: 0,
    max: 1,
  }),
  num('email_age_days', 1500, 1500, { default: 365, doc: 'age of the e-mail address in days' }),
  num('chargebacks_90d', 0.07, 0.35, { default: 0, doc: 'chargebacks on the account, 90 days' }),
  num('merchant_txn_count_24h', 300, 300, {
    default: 100,
    doc: 'transactions at this merchant, last 24 h',
  }),
  num('customer_age_years', 53, 21, { default: 40, doc: 'card holder age in years' }),
  num('credit_limit', 3700, 3300, { default: 3000, doc: 'credit limit in EUR' }),
  num('balance_utilization', 0.4, 0.3, { default: 0.3, doc: 'balance / credit limit, 0-1' }),
  bool('is_foreign', false, 'merchant country differs from card country'),
  bool('is_new_device', false, 'first time this device is seen on the account'),
  bool('card_present', false, 'physical card read at the terminal'),
  bool('billing_shipping_match', true, 'billing and shipping addresses match'),
  bool('is_recurring', false, 'recurring / subscription payment'),
  {
    spec: {
      name: 'channel',
      type: 'category',
      categories: ['web', 'pos', 'atm'],
      default: 'web',
      doc: 'where the transaction was made',
    },
  },
];

function fraudNormalization(): { scale: Float32Array; offset: Float32Array } {
  const scale: number[] = [];
  const offset: number[] = [];
  for (const f of FRAUD_FEATURES) {
    const w = featureWidth(f.spec);
    if (f.spec.type === 'number') {
      const std = f.std ?? 1;
      const mean = f.mean ?? 0;
      scale.push(1 / std);
      offset.push(-mean / std);
    } else {
      for (let i = 0; i < w; i++) {
        scale.push(1);
        offset.push(0);
      }
    }
  }
  return { scale: Float32Array.from(scale), offset: Float32Array.from(offset) };
}

/** Events the example's reference distributions are computed from (its "training set"). */
const REFERENCE_SAMPLE = 20_000;
/** Events the classifier's output reference is computed from (evaluated in float64). */
const OUTPUT_REFERENCE_SAMPLE = 5_000;

/**
 * Deciles of each number feature (distinct values only) and the 0/1 split of each boolean, with
 * the share of the sample in each bin: what the worker's drift metric compares recent rows with.
 */
function withReferences(features: FeatureSpec[]): FeatureSpec[] {
  const events = Array.from({ length: REFERENCE_SAMPLE }, (_, i) => fraudEvent(i) as object);
  return features.map((feature) => {
    if (feature.type === 'category') {
      const counts = feature.categories.map(() => 0);
      for (const event of events) {
        const value = (event as Record<string, unknown>)[feature.name] ?? feature.default;
        const index = feature.categories.indexOf(String(value));
        if (index >= 0) counts[index]!++;
      }
      return { ...feature, reference: { proportions: shares(counts) } };
    }
    if (feature.type !== 'number' && feature.type !== 'boolean') return feature;
    const values = events
      .map((event) => (event as Record<string, unknown>)[feature.name] ?? feature.default ?? 0)
      .map((value) => Number(value))
      .sort((a, b) => a - b);
    // A feature mostly at one value (e.g. failed logins, 0 for 90%) splits at its next value.
    const above = values.find((value) => value > values[0]!);
    const edges =
      feature.type === 'boolean' ? [0.5] : deciles(values).filter((edge) => edge > values[0]!);
    if (edges.length === 0 && above !== undefined) edges.push(above);
    if (edges.length === 0) return feature; // constant in the sample: nothing to compare
    return { ...feature, reference: binned(values, edges) };
  });
}

/** Counts as shares of their total, rounded to 4 decimals. */
function shares(counts: number[]): number[] {
  const total = counts.reduce((sum, count) => sum + count, 0);
  return counts.map((count) => Math.round((count / total) * 10_000) / 10_000);
}

/** The share of `values` in each bin split at `edges`. */
function binned(values: number[], edges: number[]): Reference {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const value of values) counts[edges.filter((edge) => value >= edge).length]!++;
  return { edges, proportions: shares(counts) };
}

/** Deciles of `values` (ascending), distinct. */
function deciles(values: number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  return [
    ...new Set(
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((d) => sorted[Math.floor((d * sorted.length) / 10)]!),
    ),
  ];
}

/**
 * The output reference of a classifier: the share of each label as the top one over the reference
 * sample, evaluated by the independent float64 reference implementation of the written graph.
 */
function withOutputReference(dir: string, json: ModelJson, sample: object[]): ModelJson {
  if (json.output.kind !== 'classification') return json;
  const model = loadReferenceModel(dir);
  const rows = sample.map((event) => encodeRow(model.json, event as Record<string, unknown>));
  const counts = json.output.labels.map(() => 0);
  for (const output of model.predict(rows)) {
    let best = 0;
    for (let i = 1; i < output.length; i++) if (output[i]! > output[best]!) best = i;
    counts[best]!++;
  }
  return { ...json, output: { ...json.output, reference: { proportions: shares(counts) } } };
}

export function fraudModel(version: string, seed: number): { onnx: Uint8Array; json: ModelJson } {
  const features = withReferences(FRAUD_FEATURES.map((f) => f.spec));
  const width = features.reduce((s, f) => s + featureWidth(f), 0);
  const json: ModelJson = {
    name: 'fraud-mlp',
    version,
    description:
      'Card-transaction fraud classifier (example MLP with random weights): ' +
      `${width} input floats -> 64 relu -> 32 relu -> softmax over [legit, fraud].`,
    input: { name: 'features', type: 'float32' },
    output: { name: 'probabilities', kind: 'classification', labels: ['legit', 'fraud'], topK: 2 },
    features,
    // 30 floats through two small layers: copying to a GPU would cost more than the math.
    executionProviders: ['cpu'],
    preferredBatchSizes: [1, 8, 32, 64],
    maxBatchSize: 256,
  };
  const rng = new WeightRng(seed);
  const bytes = buildMlp({
    graphName: `fraud_mlp_v${version}`,
    docString: json.description,
    inputName: json.input.name,
    outputName: json.output.name,
    inputWidth: width,
    normalization: fraudNormalization(),
    // Logit bias favours "legit": over fraudEvent(0..1999) v1 flags ~5% as fraud, v2 ~16%.
    layers: denseStack(rng, [width, 64, 32, 2], { outputStd: 1.5, outputBias: [1.2, -1.2] }),
    metadata: { model_name: json.name, model_version: version, seed: String(seed) },
    modelVersion: Number(version),
  });
  return { onnx: bytes, json };
}

// ---------------------------------------------------------------------------------------------
// embedding-mlp

const EMBEDDING_DIM = 256;
const EMBEDDING_CLASSES = 10;
/** Scale of the (column-centered) logits layer relative to 1/sqrt(width). */
const OUTPUT_GAIN = 0.5;

export interface EmbeddingShape {
  /** Width of the residual stream and of every hidden layer. */
  width: number;
  /** Residual blocks x + relu(x A + a) B + b after the input layer relu(e W + w). */
  blocks: number;
  /** Distinct (A, B) matrix pairs that the blocks cycle through (weight tying). */
  shared: number;
  /** Scale of B relative to He init; the stream norm grows ~sqrt(1 + gain^2) per block. */
  branchGain: number;
}

/**
 * Tuned so batch-1 inference takes ~3 ms with onnxruntime-node on one intra-op thread on the
 * 2-core AMD EPYC dev box (32 MiB L3). Batch-1 cost of an MLP is one read of every weight per
 * layer, so untied layers would need a file far above 40 MB to reach 2 ms (a 39 MB untied
 * 1536-wide MLP runs batch-1 in ~1.1 ms). Instead the 18 residual blocks cycle through 3 pairs of
 * 1024x1024 matrices (24 MB), as looped / ALBERT-style networks do: compute grows with depth, the
 * file does not. Residual blocks keep the outputs input-dependent; 36 plain ReLU layers collapse
 * every input onto the same class.
 */
export const EMBEDDING_SHAPE: EmbeddingShape = {
  width: 1024,
  blocks: 18,
  shared: 3,
  branchGain: 0.25,
};

function embeddingLayers(rng: WeightRng, shape: EmbeddingShape): DenseLayer[] {
  const { width, blocks, shared, branchGain } = shape;
  const he = (fanIn: number): number => Math.sqrt(2 / fanIn);
  const layers: DenseLayer[] = [
    {
      weightName: 'input_weight',
      weight: rng.matrix(EMBEDDING_DIM, width, he(EMBEDDING_DIM)),
      bias: rng.matrix(1, width, 0.01),
      relu: true,
    },
  ];
  const pairs: { a: Float32Array; b: Float32Array }[] = [];
  for (let k = 0; k < shared; k++) {
    pairs.push({
      a: rng.matrix(width, width, he(width)),
      b: rng.centeredMatrix(width, width, branchGain / Math.sqrt(width)),
    });
  }
  for (let l = 0; l < blocks; l++) {
    const k = l % shared;
    const pair = pairs[k] as { a: Float32Array; b: Float32Array };
    layers.push({
      weightName: `block_a_weight_${k + 1}`,
      weight: pair.a,
      bias: rng.matrix(1, width, 0.01),
      relu: true,
    });
    layers.push({
      weightName: `block_b_weight_${k + 1}`,
      weight: pair.b,
      bias: rng.matrix(1, width, 0.01),
      relu: false,
      residualOver: 2,
    });
  }
  layers.push({
    weightName: 'output_weight',
    weight: rng.centeredMatrix(width, EMBEDDING_CLASSES, OUTPUT_GAIN / Math.sqrt(width)),
    bias: rng.matrix(1, EMBEDDING_CLASSES, 0.01),
    relu: false,
  });
  return layers;
}

/** Deciles of the embedding's Euclidean norm over the reference sample. */
function embeddingNormReference(): Reference {
  const norms = Array.from({ length: 2_000 }, (_, i) =>
    Math.sqrt(embeddingEvent(i).embedding.reduce((sum, x) => sum + x * x, 0)),
  );
  return binned(
    norms,
    deciles(norms).map((edge) => Math.round(edge * 1000) / 1000),
  );
}

export function embeddingModel(
  seed: number,
  shape: EmbeddingShape = EMBEDDING_SHAPE,
): { onnx: Uint8Array; json: ModelJson } {
  const labels = Array.from({ length: EMBEDDING_CLASSES }, (_, i) => `class_${i}`);
  const json: ModelJson = {
    name: 'embedding-mlp',
    version: '1',
    description:
      'Heavy embedding classifier (example MLP with random weights): ' +
      `${EMBEDDING_DIM}-dim embedding -> relu layer of ${shape.width} -> ${shape.blocks} residual ` +
      `blocks x + relu(x A + a) B + b (cycling through ${shape.shared} shared A/B pairs) -> ` +
      `softmax over ${EMBEDDING_CLASSES} classes. Per-row cost falls sharply with batch size.`,
    input: { name: 'embedding', type: 'float32' },
    output: { name: 'probabilities', kind: 'classification', labels, topK: 3 },
    features: [
      {
        name: 'embedding',
        type: 'vector',
        length: EMBEDDING_DIM,
        required: true,
        doc: 'standardized 256-dim embedding',
        reference: embeddingNormReference(),
      },
    ],
    executionProviders: ['cuda', 'cpu'],
    preferredBatchSizes: [1, 8, 32, 64],
    maxBatchSize: 256,
  };
  const bytes = buildMlp({
    graphName: 'embedding_mlp_v1',
    docString: json.description,
    inputName: json.input.name,
    outputName: json.output.name,
    inputWidth: EMBEDDING_DIM,
    layers: embeddingLayers(new WeightRng(seed), shape),
    metadata: { model_name: json.name, model_version: '1', seed: String(seed) },
    modelVersion: 1,
  });
  return { onnx: bytes, json };
}

// ---------------------------------------------------------------------------------------------
// Output

const HERE = path.dirname(fileURLToPath(import.meta.url));

async function formatJson(value: unknown): Promise<string> {
  // Format like the repo's prettier config so `prettier --check .` accepts the committed files.
  const config = (await prettier.resolveConfig(path.join(HERE, 'model.json'))) ?? {};
  return prettier.format(JSON.stringify(value, null, 2), { ...config, parser: 'json' });
}

async function writeModel(
  outDir: string,
  model: { onnx: Uint8Array; json: ModelJson },
): Promise<string[]> {
  const dir = path.join(outDir, model.json.name, model.json.version);
  await mkdir(dir, { recursive: true });
  const onnxPath = path.join(dir, 'model.onnx');
  const jsonPath = path.join(dir, 'model.json');
  await writeFile(onnxPath, model.onnx);
  await writeFile(jsonPath, await formatJson(model.json));
  return [onnxPath, jsonPath];
}

async function writeExample(outDir: string, name: string, event: unknown): Promise<string> {
  const dir = path.join(outDir, name);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'example-event.json');
  await writeFile(file, await formatJson(event));
  return file;
}

/** Seeds of the generated models, fixed forever (changing one changes the committed weights). */
export const SEEDS = { fraudV1: 20240101, fraudV2: 20240202, embeddingV1: 20240303 } as const;

/** Every file path (relative to outDir) that generateAll writes. */
export const GENERATED_FILES = [
  'fraud-mlp/1/model.onnx',
  'fraud-mlp/1/model.json',
  'fraud-mlp/2/model.onnx',
  'fraud-mlp/2/model.json',
  'embedding-mlp/1/model.onnx',
  'embedding-mlp/1/model.json',
  'fraud-mlp/example-event.json',
  'embedding-mlp/example-event.json',
] as const;

/** Writes all example models and example events under outDir; returns the written paths. */
export async function generateAll(outDir: string = HERE): Promise<string[]> {
  const written: string[] = [];
  const sample = Array.from({ length: OUTPUT_REFERENCE_SAMPLE }, (_, i) => fraudEvent(i) as object);
  for (const [version, seed] of [
    ['1', SEEDS.fraudV1],
    ['2', SEEDS.fraudV2],
  ] as const) {
    const model = fraudModel(version, seed);
    const [onnxPath, jsonPath] = await writeModel(outDir, model);
    // The graph is written first: the output reference comes from evaluating it.
    const json = withOutputReference(path.dirname(onnxPath!), model.json, sample);
    await writeFile(jsonPath!, await formatJson(json));
    written.push(onnxPath!, jsonPath!);
  }
  written.push(...(await writeModel(outDir, embeddingModel(SEEDS.embeddingV1))));
  written.push(await writeExample(outDir, 'fraud-mlp', fraudEvent(0)));
  written.push(await writeExample(outDir, 'embedding-mlp', embeddingEvent(0)));
  return written;
}

const invokedDirectly =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const outDir = path.resolve(process.argv[2] ?? HERE);
  const written = await generateAll(outDir);
  for (const file of written) console.log(path.relative(process.cwd(), file) || file);
}
