import type { InferenceSession } from 'onnxruntime-node';
import { ModelLoadError } from '../errors.js';
import { rowWidth, type ModelManifest } from './model-manifest.js';
import { outputWidth } from './postprocessor.js';

/**
 * Checks the ONNX graph against model.json: the declared input and output exist, are float32,
 * have a dynamic batch axis first and the widths the features and labels imply.
 */
export function validateSessionAgainstManifest(
  session: InferenceSession,
  manifest: ModelManifest,
): void {
  const where = `model "${manifest.name}" version ${manifest.version}`;
  checkTensor(session.inputMetadata, manifest.input.name, rowWidth(manifest), 'input', where);
  checkTensor(
    session.outputMetadata,
    manifest.output.name,
    outputWidth(manifest.output),
    'output',
    where,
  );
}

function checkTensor(
  metadata: readonly InferenceSession.ValueMetadata[],
  name: string,
  width: number,
  role: 'input' | 'output',
  where: string,
): void {
  const found = metadata.find((value) => value.name === name);
  const names = metadata.map((value) => value.name).join(', ');
  if (!found) {
    throw new ModelLoadError(
      `${where}: model.json names ${role} "${name}" but the ONNX graph has ${names}`,
    );
  }
  if (!found.isTensor || found.type !== 'float32') {
    const type = found.isTensor ? found.type : 'non-tensor';
    throw new ModelLoadError(
      `${where}: ${role} "${name}" is ${type} in the ONNX graph, model.json says float32`,
    );
  }
  const [batch, columns, ...rest] = found.shape;
  const shape = `[${found.shape.join(', ')}]`;
  if (rest.length > 0 || columns === undefined) {
    throw new ModelLoadError(
      `${where}: ${role} "${name}" has shape ${shape}, expected [batch, ${width}]`,
    );
  }
  if (typeof batch === 'number' && batch > 0) {
    throw new ModelLoadError(
      `${where}: ${role} "${name}" has a fixed batch dimension ${batch} in ${shape}; it must be dynamic`,
    );
  }
  if (columns !== width) {
    throw new ModelLoadError(
      `${where}: ${role} "${name}" has width ${String(columns)} in the ONNX graph, model.json implies ${width}`,
    );
  }
}
