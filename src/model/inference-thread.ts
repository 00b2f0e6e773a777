/**
 * Runs one ONNX Runtime session on a worker thread: session.run() blocks its thread, and this
 * keeps that off the main thread, where Kafka heartbeats and I/O must stay live. A batch's
 * values are decoded and featurized here too (row-preparation.ts): the main thread moves bytes.
 */
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { errorMessage } from '../errors.js';
import { DeviceLock } from './device-lock.js';
import { openSession } from './execution-provider.js';
import type { FromThread, LoadRequest, ToThread } from './inference-protocol.js';
import { MODEL_FILE, readModelManifest, rowWidth } from './model-manifest.js';
import { RowPreparation } from './row-preparation.js';
import { validateSessionAgainstManifest } from './session-validation.js';

const port = parentPort!;
const request = workerData as LoadRequest;
const send = (message: FromThread, transfer: ArrayBuffer[] = []): void =>
  port.postMessage(message, transfer);

async function main(): Promise<void> {
  const manifest = readModelManifest(request.modelDir);
  const width = rowWidth(manifest);
  // WebGPU's device context is process-wide: threads take turns with it (device-lock.ts).
  const deviceLock = new DeviceLock(request.deviceLock);
  const open = () =>
    openSession(
      join(request.modelDir, MODEL_FILE),
      request.device,
      request.intraOpThreads,
      manifest.executionProviders,
    );
  const { session, provider, adapter } =
    request.device === 'cpu' || request.device === 'cuda'
      ? await open()
      : await deviceLock.hold(open);
  const onDevice = <T>(work: () => Promise<T>): Promise<T> =>
    provider === 'webgpu' ? deviceLock.hold(work) : work();
  validateSessionAgainstManifest(session, manifest);

  // The shapes the session was warmed on: a run is padded to the smallest that holds it.
  const paddedSize = (count: number): number =>
    (request.padToPreferredBatchSize
      ? manifest.preferredBatchSizes.filter((size) => size >= count).sort((a, b) => a - b)[0]
      : undefined) ?? count;
  const infer = (rows: Float32Array, count: number): Promise<Float32Array> =>
    onDevice(async () => {
      const size = paddedSize(count);
      const input = size === count ? rows : padded(rows, size * width);
      const feeds = { [manifest.input.name]: new Tensor('float32', input, [size, width]) };
      const results: InferenceSession.OnnxValueMapType = await session.run(feeds);
      const output = results[manifest.output.name] as Tensor;
      const data = output.data as Float32Array;
      // Own buffer, so it can be transferred; the padding rows stay behind.
      return data.slice(0, (data.length / size) * count);
    });

  const preparation = new RowPreparation(manifest, request.preparation);

  const warmupStart = performance.now();
  for (const size of manifest.preferredBatchSizes)
    await infer(new Float32Array(size * width), size);
  send({ type: 'loaded', provider, adapter, warmupMs: performance.now() - warmupStart });

  /** Decodes and featurizes a batch (synchronous, off the main thread), and runs it if asked. */
  const prepareAndRun = async (message: Extract<ToThread, { type: 'prepare' }>) => {
    const started = performance.now();
    const prepared = preparation.prepare(message.input);
    const { count } = prepared;
    const transfer = [prepared.rows.buffer as ArrayBuffer];
    if (!message.run || count === 0) {
      send({ type: 'prepared', id: message.id, prepared }, transfer);
      return;
    }
    let output: Float32Array | undefined;
    let runError: string | undefined;
    try {
      if (request.debugInferenceDelayMs > 0) blockFor(request.debugInferenceDelayMs);
      output = await infer(prepared.rows, count);
      transfer.push(output.buffer as ArrayBuffer);
    } catch (error) {
      runError = errorMessage(error);
    }
    const elapsedMs = performance.now() - started;
    send(
      output
        ? {
            type: 'prepared',
            id: message.id,
            prepared,
            output: output.buffer as ArrayBuffer,
            elapsedMs,
          }
        : { type: 'prepared', id: message.id, prepared, runError: runError! },
      transfer,
    );
  };

  port.on('message', (message: ToThread) => {
    if (message.type === 'close') {
      void onDevice(() => session.release()).finally(() => port.close());
      return;
    }
    if (message.type === 'prepare') {
      void prepareAndRun(message).catch((error: unknown) =>
        send({ type: 'prepare-failed', id: message.id, message: errorMessage(error) }),
      );
      return;
    }
    const started = performance.now();
    const run = async (): Promise<void> => {
      if (request.debugInferenceDelayMs > 0) blockFor(request.debugInferenceDelayMs);
      const output = await infer(new Float32Array(message.rows), message.batchSize);
      send(
        {
          type: 'result',
          id: message.id,
          output: output.buffer as ArrayBuffer,
          elapsedMs: performance.now() - started,
        },
        [output.buffer as ArrayBuffer],
      );
    };
    run().catch((error: unknown) =>
      send({ type: 'run-failed', id: message.id, message: errorMessage(error) }),
    );
  });
}

main().catch((error: unknown) => send({ type: 'load-failed', message: errorMessage(error) }));

function padded(rows: Float32Array, length: number): Float32Array {
  const out = new Float32Array(length);
  out.set(rows);
  return out;
}

/** Testing only: holds this thread like a slow synchronous session.run() would. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
