/**
 * Independent reference implementation of the example models, for tests.
 *
 * It does NOT use onnxruntime: `loadReferenceModel` parses model.onnx with onnx-proto, reads the
 * float32 initializers and evaluates the graph in float64 for a whole batch. Only the operators
 * that models/generate.ts emits are supported (MatMul, Add, Mul, Relu, Softmax, Gemm); anything
 * else throws, so a model it cannot check fails loudly instead of being checked wrongly.
 *
 * `encodeRow` is an equally independent, deliberately simple featurizer following the model.json
 * encoding rules: features in declared order; number -> 1 float, boolean -> 1/0, category ->
 * one-hot over `categories`, vector -> `length` floats; a missing (undefined or null) feature takes
 * its `default`, and a missing feature without a default is an error.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;

// ---------------------------------------------------------------------------------------------
// model.json

export interface ReferenceFeature {
  name: string;
  type: 'number' | 'boolean' | 'category' | 'vector';
  required?: boolean;
  default?: unknown;
  categories?: string[];
  length?: number;
  doc?: string;
}

export interface ReferenceModelJson {
  name: string;
  version: string;
  description?: string;
  input: { name: string; type: string };
  output: { name: string; kind: 'classification' | 'regression'; labels?: string[]; topK?: number };
  features: ReferenceFeature[];
  preferredBatchSizes?: number[];
  maxBatchSize?: number;
}

export function readModelJson(dir: string): ReferenceModelJson {
  return JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as ReferenceModelJson;
}

/** Number of floats one feature occupies in the row. */
export function referenceFeatureWidth(f: ReferenceFeature): number {
  if (f.type === 'number' || f.type === 'boolean') return 1;
  if (f.type === 'category') return (f.categories ?? []).length;
  if (f.type === 'vector') return f.length ?? 0;
  throw new Error(`unknown feature type ${String((f as { type: unknown }).type)}`);
}

export function referenceRowWidth(model: ReferenceModelJson): number {
  let width = 0;
  for (const f of model.features) width += referenceFeatureWidth(f);
  return width;
}

/** Encodes one event (a plain JSON object) into the model's float32 input row. */
export function encodeRow(
  model: ReferenceModelJson,
  record: Record<string, unknown>,
): Float32Array {
  const values: number[] = [];
  for (const f of model.features) {
    let v = record[f.name];
    if (v === undefined || v === null) {
      if (f.default === undefined) throw new Error(`feature '${f.name}' is missing`);
      v = f.default;
    }
    if (f.type === 'number') {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new Error(`feature '${f.name}' must be a finite number`);
      }
      values.push(v);
    } else if (f.type === 'boolean') {
      if (typeof v !== 'boolean') throw new Error(`feature '${f.name}' must be a boolean`);
      values.push(v ? 1 : 0);
    } else if (f.type === 'category') {
      const categories = f.categories ?? [];
      const hit = categories.indexOf(v as string);
      if (typeof v !== 'string' || hit < 0) {
        throw new Error(`feature '${f.name}' must be one of ${categories.join(', ')}`);
      }
      for (let i = 0; i < categories.length; i++) values.push(i === hit ? 1 : 0);
    } else if (f.type === 'vector') {
      const length = f.length ?? 0;
      if (!Array.isArray(v) || v.length !== length) {
        throw new Error(`feature '${f.name}' must be an array of ${length} numbers`);
      }
      for (const x of v) {
        if (typeof x !== 'number' || !Number.isFinite(x)) {
          throw new Error(`feature '${f.name}' must contain finite numbers`);
        }
        values.push(x);
      }
    } else {
      throw new Error(`feature '${f.name}' has unknown type`);
    }
  }
  return Float32Array.from(values);
}

// ---------------------------------------------------------------------------------------------
// Graph evaluation

interface Tensor {
  dims: number[];
  data: Float64Array;
}

const size = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);

function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

function readInitializer(t: OnnxTypes.ITensorProto): Tensor {
  const dims = (t.dims ?? []).map((d) => toNumber(d));
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) {
    throw new Error(`initializer ${t.name}: only float32 is supported (dataType ${t.dataType})`);
  }
  const n = size(dims);
  const data = new Float64Array(n);
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== n * 4) throw new Error(`initializer ${t.name}: raw_data size`);
    const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    for (let i = 0; i < n; i++) data[i] = view.getFloat32(i * 4, true);
  } else {
    const floats = t.floatData ?? [];
    if (floats.length !== n) throw new Error(`initializer ${t.name}: float_data size`);
    for (let i = 0; i < n; i++) data[i] = Math.fround(floats[i] ?? 0);
  }
  return { dims, data };
}

/** Numpy-style multidirectional broadcasting for elementwise binary ops. */
function broadcast(a: Tensor, b: Tensor, fn: (x: number, y: number) => number): Tensor {
  // Fast paths: equal shapes, and a trailing 1-D operand (bias / per-column scale).
  const sameDims = a.dims.length === b.dims.length && a.dims.every((d, i) => d === b.dims[i]);
  if (sameDims)
    return { dims: [...a.dims], data: a.data.map((x, i) => fn(x, b.data[i] as number)) };
  const last = a.dims[a.dims.length - 1];
  if (b.dims.length === 1 && a.dims.length >= 1 && b.dims[0] === last && last !== undefined) {
    return { dims: [...a.dims], data: a.data.map((x, i) => fn(x, b.data[i % last] as number)) };
  }
  const rank = Math.max(a.dims.length, b.dims.length);
  const ad = [...Array<number>(rank - a.dims.length).fill(1), ...a.dims];
  const bd = [...Array<number>(rank - b.dims.length).fill(1), ...b.dims];
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = ad[i] ?? 1;
    const y = bd[i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new Error(`cannot broadcast [${a.dims.join(',')}] with [${b.dims.join(',')}]`);
    }
    dims.push(Math.max(x, y));
  }
  const out = new Float64Array(size(dims));
  const index = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < out.length; flat++) {
    let ai = 0;
    let bi = 0;
    for (let k = 0; k < rank; k++) {
      const idx = index[k] ?? 0;
      ai = ai * (ad[k] ?? 1) + ((ad[k] ?? 1) === 1 ? 0 : idx);
      bi = bi * (bd[k] ?? 1) + ((bd[k] ?? 1) === 1 ? 0 : idx);
    }
    out[flat] = fn(a.data[ai] ?? 0, b.data[bi] ?? 0);
    for (let k = rank - 1; k >= 0; k--) {
      index[k] = (index[k] ?? 0) + 1;
      if ((index[k] ?? 0) < (dims[k] ?? 1)) break;
      index[k] = 0;
    }
  }
  return { dims, data: out };
}

function transpose(data: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  return out;
}

function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  if (a.dims.length !== 2 || b.dims.length !== 2) throw new Error('MatMul: only 2-D inputs');
  const [ar, ac] = a.dims as [number, number];
  const [br, bc] = b.dims as [number, number];
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const kb = transB ? bc : br;
  const n = transB ? br : bc;
  if (k !== kb) throw new Error(`MatMul: [${a.dims.join(',')}] x [${b.dims.join(',')}]`);
  // Materialize the transposes so the hot loop below is a plain row-major i-p-j product.
  const ad = transA ? transpose(a.data, ar, ac) : a.data;
  const bd = transB ? transpose(b.data, br, bc) : b.data;
  const out = new Float64Array(m * n);
  let i = 0;
  // Four rows at a time (each B element loaded once per four rows: ~2x faster in V8), then the rest.
  for (; i + 4 <= m; i += 4) {
    const r0 = i * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    for (let p = 0; p < k; p++) {
      const a0 = ad[i * k + p] as number;
      const a1 = ad[(i + 1) * k + p] as number;
      const a2 = ad[(i + 2) * k + p] as number;
      const a3 = ad[(i + 3) * k + p] as number;
      const bOffset = p * n;
      for (let j = 0; j < n; j++) {
        const bv = bd[bOffset + j] as number;
        out[r0 + j] = (out[r0 + j] as number) + a0 * bv;
        out[r1 + j] = (out[r1 + j] as number) + a1 * bv;
        out[r2 + j] = (out[r2 + j] as number) + a2 * bv;
        out[r3 + j] = (out[r3 + j] as number) + a3 * bv;
      }
    }
  }
  for (; i < m; i++) {
    const rowOffset = i * n;
    for (let p = 0; p < k; p++) {
      const av = ad[i * k + p] as number;
      const bOffset = p * n;
      for (let j = 0; j < n; j++) {
        out[rowOffset + j] = (out[rowOffset + j] as number) + av * (bd[bOffset + j] as number);
      }
    }
  }
  return { dims: [m, n], data: out };
}

function softmaxLastAxis(x: Tensor): Tensor {
  const n = x.dims[x.dims.length - 1] ?? 1;
  const out = new Float64Array(x.data.length);
  for (let row = 0; row < x.data.length; row += n) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x.data[row + j] ?? 0);
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp((x.data[row + j] ?? 0) - max);
      out[row + j] = e;
      sum += e;
    }
    for (let j = 0; j < n; j++) out[row + j] = (out[row + j] ?? 0) / sum;
  }
  return { dims: [...x.dims], data: out };
}

function attr(n: OnnxTypes.INodeProto, name: string): OnnxTypes.IAttributeProto | undefined {
  return (n.attribute ?? []).find((a) => a.name === name);
}
function intAttr(n: OnnxTypes.INodeProto, name: string, dflt: number): number {
  const a = attr(n, name);
  return a ? toNumber(a.i) : dflt;
}
function floatAttr(n: OnnxTypes.INodeProto, name: string, dflt: number): number {
  const a = attr(n, name);
  return a ? (a.f ?? dflt) : dflt;
}

function runNode(n: OnnxTypes.INodeProto, inputs: Tensor[]): Tensor {
  const [a, b, c] = inputs;
  const need = (count: number): void => {
    if (inputs.length < count) throw new Error(`${n.opType} ${n.name}: needs ${count} inputs`);
  };
  switch (n.opType) {
    case 'Add':
      need(2);
      return broadcast(a as Tensor, b as Tensor, (x, y) => x + y);
    case 'Mul':
      need(2);
      return broadcast(a as Tensor, b as Tensor, (x, y) => x * y);
    case 'Relu':
      need(1);
      return { dims: [...(a as Tensor).dims], data: (a as Tensor).data.map((x) => Math.max(0, x)) };
    case 'MatMul':
      need(2);
      return matmul(a as Tensor, b as Tensor);
    case 'Gemm': {
      need(2);
      const alpha = floatAttr(n, 'alpha', 1);
      const beta = floatAttr(n, 'beta', 1);
      const y = matmul(
        a as Tensor,
        b as Tensor,
        intAttr(n, 'transA', 0) !== 0,
        intAttr(n, 'transB', 0) !== 0,
      );
      const scaled: Tensor = { dims: y.dims, data: y.data.map((v) => v * alpha) };
      return c ? broadcast(scaled, c, (x, z) => x + beta * z) : scaled;
    }
    case 'Softmax': {
      need(1);
      const t = a as Tensor;
      const axis = intAttr(n, 'axis', -1);
      if (axis !== -1 && axis !== t.dims.length - 1) {
        throw new Error(`Softmax ${n.name}: only the last axis is supported (axis ${axis})`);
      }
      return softmaxLastAxis(t);
    }
    default:
      throw new Error(`reference model: unsupported op ${n.opType} (${n.name})`);
  }
}

export interface ReferenceModel {
  /** Parsed model.json. */
  readonly json: ReferenceModelJson;
  readonly inputName: string;
  readonly outputName: string;
  /** Graph input shape: numbers for fixed dims, dim_param strings for symbolic ones. */
  readonly inputShape: (number | string)[];
  readonly outputShape: (number | string)[];
  /** Op types in graph order. */
  readonly ops: string[];
  /** Evaluates a batch of encoded rows (each of the input width); returns one output row each. */
  predict(rows: Float32Array[]): Float32Array[];
  /** As predict, without rounding the float64 results to float32. */
  predict64(rows: ArrayLike<number>[]): Float64Array[];
  /** Every named value of the graph (initializers, input, node outputs) after one evaluation. */
  evaluate(rows: ArrayLike<number>[]): Map<string, { dims: number[]; data: Float64Array }>;
}

function shapeOf(v: OnnxTypes.IValueInfoProto): (number | string)[] {
  const dims = v.type?.tensorType?.shape?.dim ?? [];
  return dims.map((d) => (d.dimParam ? d.dimParam : toNumber(d.dimValue)));
}

/** Loads `<dir>/model.onnx` and `<dir>/model.json` into a float64 reference evaluator. */
export function loadReferenceModel(dir: string): ReferenceModel {
  const json = readModelJson(dir);
  const model = onnx.ModelProto.decode(readFileSync(path.join(dir, 'model.onnx')));
  const graph = model.graph;
  if (!graph) throw new Error(`${dir}: model has no graph`);
  let opset = 0;
  for (const o of model.opsetImport ?? []) {
    if (o.domain && o.domain !== 'ai.onnx') throw new Error(`unsupported opset domain ${o.domain}`);
    opset = toNumber(o.version);
  }
  if (opset < 13) throw new Error(`${dir}: opset ${opset} < 13 (Softmax semantics differ)`);
  const initializers = new Map<string, Tensor>();
  for (const t of graph.initializer ?? []) initializers.set(t.name ?? '', readInitializer(t));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name ?? ''));
  const outputs = graph.output ?? [];
  const [input] = inputs;
  const [output] = outputs;
  if (inputs.length !== 1 || !input?.name || outputs.length !== 1 || !output?.name) {
    throw new Error(`${dir}: expected exactly one graph input and one graph output`);
  }
  const inputName = input.name;
  const outputName = output.name;
  const inputShape = shapeOf(input);
  const width = inputShape[1];
  if (inputShape.length !== 2 || typeof width !== 'number') {
    throw new Error(`${dir}: graph input must be [batch, width]`);
  }
  const nodes = (graph.node ?? []).map((n) => {
    if (n.domain) throw new Error(`node ${n.name}: unsupported domain ${n.domain}`);
    const outs = n.output ?? [];
    const [out] = outs;
    if (!out || outs.length !== 1) throw new Error(`node ${n.name}: expected one output`);
    return {
      proto: n,
      opType: n.opType ?? '',
      inputs: (n.input ?? []).filter((x) => x !== ''),
      out,
    };
  });

  const evaluate = (rows: ArrayLike<number>[]): Map<string, Tensor> => {
    const data = new Float64Array(rows.length * width);
    rows.forEach((row, r) => {
      if (row.length !== width) throw new Error(`row ${r} has ${row.length} values, want ${width}`);
      for (let j = 0; j < width; j++) data[r * width + j] = Math.fround(row[j] ?? 0);
    });
    const values = new Map<string, Tensor>(initializers);
    values.set(inputName, { dims: [rows.length, width], data });
    // Run nodes as soon as their inputs exist (graphs are topologically sorted, but do not rely on it).
    const pending = [...nodes];
    while (pending.length > 0) {
      const idx = pending.findIndex((n) => n.inputs.every((name) => values.has(name)));
      const [n] = idx < 0 ? [] : pending.splice(idx, 1);
      if (!n) throw new Error(`${dir}: graph has unresolved inputs`);
      values.set(
        n.out,
        runNode(
          n.proto,
          n.inputs.map((name) => values.get(name) as Tensor),
        ),
      );
    }
    return values;
  };

  const predict64 = (rows: ArrayLike<number>[]): Float64Array[] => {
    const y = evaluate(rows).get(outputName);
    if (!y) throw new Error(`${dir}: output ${outputName} was not computed`);
    const cols = y.data.length / Math.max(rows.length, 1);
    return rows.map((_, r) => y.data.slice(r * cols, (r + 1) * cols));
  };

  return {
    json,
    inputName,
    outputName,
    inputShape,
    outputShape: shapeOf(output),
    ops: nodes.map((n) => n.opType),
    predict64,
    evaluate,
    predict: (rows) => predict64(rows).map((r) => Float32Array.from(r)),
  };
}
