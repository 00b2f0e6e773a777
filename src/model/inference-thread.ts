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

  const infer = (rows: Float32Array, batchSize: number): Promise<Float32Array> =>
    onDevice(async () => {
      const feeds = { [manifest.input.name]: new Tensor('float32', rows, [batchSize, width]) };
      const results: InferenceSession.OnnxValueMapType = await session.run(feeds);
      const output = results[manifest.output.name] as Tensor;
      return (output.data as Float32Array).slice(); // own buffer, so it can be transferred
    });

  const preparation = new RowPreparation(manifest, request.preparation);

  const warmupStart = performance.now();
  for (const size of manifest.preferredBatchSizes)
    await infer(new Float32Array(size * width), size);
  send({ type: 'loaded', provider, adapter, warmupMs: performance.now() - warmupStart });

  port.on('message', (message: ToThread) => {
    if (message.type === 'close') {
      void onDevice(() => session.release()).finally(() => port.close());
      return;
    }
    if (message.type === 'prepare') {
      // Decoding and featurizing a batch is synchronous, and off the main thread.
      try {
        const prepared = preparation.prepare(message.input);
        send({ type: 'prepared', id: message.id, prepared }, [prepared.rows.buffer as ArrayBuffer]);
      } catch (error) {
        send({ type: 'prepare-failed', id: message.id, message: errorMessage(error) });
      }
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

/** Testing only: holds this thread like a slow synchronous session.run() would. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
