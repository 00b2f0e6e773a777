/**
 * One lock per process for ONNX Runtime's WebGPU provider, shared by every inference thread
 * through a SharedArrayBuffer. The provider's device context is process-wide and crashes the
 * process (SIGABRT) when two threads use it at once: two sessions warming up together, or a hot
 * swap loading the new version while the old one still runs batches. Holding this lock around
 * session creation, each run and release makes them take turns; on the CPU it is never taken.
 */
export class DeviceLock {
  private readonly state: Int32Array;

  /** `buffer`: 4 bytes, created once per process on the main thread and passed to each thread. */
  constructor(buffer: SharedArrayBuffer) {
    this.state = new Int32Array(buffer);
  }

  /** Runs `work` holding the lock; blocks this (inference) thread while another holds it. */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    while (Atomics.compareExchange(this.state, 0, 0, 1) !== 0) {
      Atomics.wait(this.state, 0, 1, 100);
    }
    try {
      return await work();
    } finally {
      Atomics.store(this.state, 0, 0);
      Atomics.notify(this.state, 0, 1);
    }
  }
}
