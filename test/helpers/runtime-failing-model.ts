/**
 * A model version that loads and warms up (on all-zero rows) but fails at run time on every real
 * row: the fault suite's "broken version dropped into the repository". It is another version's
 * graph with a tripwire in front: Gather(data=[0], indices=Cast<int64>(features)) is added to the
 * features; any feature value of 1 or more is an index out of bounds, so ONNX Runtime refuses
 * the whole batch, while zeros pass. Otherwise it answers exactly like the version it came from.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Copies model version `from` to `to` with the tripwire added and model.json's version set. */
export function writeRuntimeFailingModel(from: string, to: string, version: string): void {
  cpSync(from, to, { recursive: true });
  const json = JSON.parse(readFileSync(join(from, 'model.json'), 'utf8')) as {
    version: string;
    input: { name: string };
  };
  json.version = version;
  writeFileSync(join(to, 'model.json'), JSON.stringify(json, null, 2));

  const model = onnx.ModelProto.decode(readFileSync(join(from, 'model.onnx')));
  const graph = model.graph!;
  const input = json.input.name;
  for (const node of graph.node ?? []) {
    node.input = (node.input ?? []).map((name) => (name === input ? 'tripped' : name));
  }
  graph.initializer!.push(
    onnx.TensorProto.fromObject({
      name: 'trip_data',
      dims: [1],
      dataType: onnx.TensorProto.DataType.FLOAT,
      floatData: [0],
    }),
  );
  graph.node!.unshift(
    onnx.NodeProto.fromObject({
      opType: 'Cast',
      input: [input],
      output: ['trip_index'],
      name: 'trip_index',
      attribute: [
        {
          name: 'to',
          type: onnx.AttributeProto.AttributeType.INT,
          i: onnx.TensorProto.DataType.INT64,
        },
      ],
    }),
    onnx.NodeProto.fromObject({
      opType: 'Gather',
      input: ['trip_data', 'trip_index'],
      output: ['trip'],
      name: 'trip',
    }),
    onnx.NodeProto.fromObject({
      opType: 'Add',
      input: [input, 'trip'],
      output: ['tripped'],
      name: 'tripped',
    }),
  );
  writeFileSync(join(to, 'model.onnx'), onnx.ModelProto.encode(model).finish());
}
