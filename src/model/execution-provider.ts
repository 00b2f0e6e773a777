import { existsSync, readdirSync } from 'node:fs';
import { InferenceSession } from 'onnxruntime-node';
import { ModelLoadError, errorMessage } from '../errors.js';
import { cudaProviderInstalled } from './cuda-provider.js';

export type Device = 'auto' | 'cpu' | 'cuda' | 'webgpu';

export interface OpenedSession {
  session: InferenceSession;
  /** The execution provider the session runs on: "cuda", "webgpu" or "cpu". */
  provider: string;
  /** WebGPU only: whether a hardware GPU can be behind its adapter, for the start-up log. */
  adapter?: string;
}

const CUDA_HINT =
  'the CUDA provider needs onnxruntime-node installed with --onnxruntime-node-install=cuda12 ' +
  'and CUDA 12 + cuDNN 9 libraries on the host (see README, "GPU")';

/**
 * Opens a session on the requested device. "auto" tries the model's preferred providers in order
 * (model.json executionProviders; CUDA only when its library is installed; WebGPU only when a GPU
 * device node exists, since otherwise its adapter can only be a CPU-emulated one) and ends on the
 * CPU; an explicitly requested provider that cannot start is a start-up error naming what is missing.
 */
export async function openSession(
  modelPath: string,
  device: Device,
  intraOpThreads: number,
  preferred: readonly string[] = ['cuda', 'cpu'],
): Promise<OpenedSession> {
  const options = (provider: string): InferenceSession.SessionOptions => ({
    executionProviders: [provider],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const attempts =
    device === 'auto'
      ? [...new Set([...preferred, 'cpu'])].filter(
          (p) =>
            (p !== 'cuda' || cudaProviderInstalled()) &&
            (p !== 'webgpu' || gpuDeviceNodes().length > 0),
        )
      : [device];
  const failures: string[] = [];
  for (const provider of attempts) {
    try {
      const session = await InferenceSession.create(modelPath, options(provider));
      return provider === 'webgpu'
        ? { session, provider, adapter: webgpuAdapterKind() }
        : { session, provider };
    } catch (error) {
      failures.push(`${provider}: ${errorMessage(error)}`);
    }
  }
  const hint = device === 'cuda' ? `; ${CUDA_HINT}` : '';
  throw new ModelLoadError(
    `cannot open ${modelPath} on device "${device}" (${failures.join('; ')})${hint}`,
  );
}

/**
 * Device nodes through which a hardware GPU is reachable: DRM render nodes (Mesa's and AMD's
 * drivers, Intel's) and NVIDIA's. ONNX Runtime does not say which adapter Dawn picked; without
 * any of these, it can only be a software one (lavapipe, SwiftShader).
 */
export function gpuDeviceNodes(): string[] {
  const nodes: string[] = [];
  try {
    for (const name of readdirSync('/dev/dri')) {
      if (name.startsWith('renderD')) nodes.push(`/dev/dri/${name}`);
    }
  } catch {
    // no DRM devices
  }
  if (existsSync('/dev/nvidia0')) nodes.push('/dev/nvidia0');
  return nodes;
}

function webgpuAdapterKind(): string {
  const nodes = gpuDeviceNodes();
  return nodes.length > 0
    ? `a hardware GPU may serve it (${nodes.join(', ')})`
    : 'software: no GPU device node, so a CPU-emulated Vulkan device (e.g. lavapipe) runs it';
}
