import type { Logger } from 'pino';
import {
  autoInferenceThreads,
  type BatchingOptions,
  type ModelOptions,
} from '../config/worker-config.js';
import { errorMessage } from '../errors.js';
import { LoadedModel } from '../model/loaded-model.js';
import { ModelRepository } from '../model/model-repository.js';
import type { RowPreparationOptions } from '../model/row-preparation.js';
import { monitoringFor } from '../observability/version-monitoring.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { AnswerRole } from '../feedback/feedback-store.js';
import type { ModelIdentity } from '../model/loaded-model.js';
import { ModelRouter } from './model-router.js';
import { ServingVersion, type PendingRow } from './serving-version.js';

/** Runs a version's cut batch (BatchExecution); connected by the composition root. */
export interface BatchRunner {
  run(version: ServingVersion, batch: PendingRow[]): Promise<void>;
}

/**
 * The model versions this worker serves: the primary (hot-swapped when a newer version appears
 * in the repository or on SIGHUP), and optionally a canary or a shadow. A new version is loaded
 * and warmed in the background and takes over atomically; the old one finishes its batches first.
 */
export class ModelServing {
  private readonly repository: ModelRepository | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private swapping: Promise<void> | undefined;
  /** The primary a hot swap replaced: what a model fault of the new one rolls back to. */
  private replacedDirectory: string | undefined;
  /** Versions rolled back after a model fault: "latest" does not swap them in again. */
  private readonly rejectedDirectories = new Set<string>();
  /** Versions taken out of service and still finishing their batches. */
  private readonly retiring = new Set<Promise<void>>();
  /** One fallback per faulted version, however many of its batches fault together. */
  private readonly fallbacks = new Map<ServingVersion, Promise<ServingVersion | undefined>>();
  /** Versions loaded as a canary or a shadow keep that role for their answers; others are primary. */
  private readonly roles = new WeakMap<ModelIdentity, AnswerRole>();
  router!: ModelRouter;
  private runner: BatchRunner | undefined;

  constructor(
    private readonly options: ModelOptions,
    private readonly batching: BatchingOptions,
    /** Rows per half of each version's drift window (observability.driftWindow). */
    private readonly driftWindow: number,
    /** How each version's threads decode and featurize its batches. */
    private readonly preparation: RowPreparationOptions,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {
    this.repository = options.repository
      ? new ModelRepository(options.repository, options.name!)
      : undefined;
  }

  /**
   * Where every version's cut batches go (pipeline-stages.ts). Models load and warm before the
   * stages exist (a bad model stops start-up before any connection); no batch is cut before
   * the worker joins its group, after this.
   */
  connect(runner: BatchRunner): void {
    this.runner = runner;
  }

  private runBatch(version: ServingVersion, batch: PendingRow[]): Promise<void> {
    if (!this.runner) throw new Error('a batch was cut before the stages were connected');
    return this.runner.run(version, batch);
  }

  async start(): Promise<void> {
    const primary = await this.load(this.primaryDirectory());
    const canary = this.options.canary
      ? {
          version: await this.load(
            this.repository!.resolve(this.options.canary.version).directory,
            this.options.canary.device,
          ),
          percent: this.options.canary.percent,
        }
      : undefined;
    const shadow = this.options.shadow
      ? {
          version: await this.load(this.repository!.resolve(this.options.shadow.version).directory),
          topic: this.options.shadow.topic,
        }
      : undefined;
    if (canary) this.roles.set(canary.version.identity, 'canary');
    if (shadow) this.roles.set(shadow.version.identity, 'shadow');
    this.router = new ModelRouter(primary, canary, shadow);
    this.publishInfo();
    if (this.repository && this.options.version === 'latest' && this.options.watchIntervalMs > 0) {
      this.watchTimer = setInterval(() => void this.reload(), this.options.watchIntervalMs);
      this.watchTimer.unref();
    }
  }

  /**
   * Loads the configured primary version again if it changed ("latest" moved on), warms it, and
   * swaps it in. Concurrent calls share one swap. Failures keep the current version serving.
   */
  reload(): Promise<void> {
    this.swapping ??= this.swapIfChanged().finally(() => (this.swapping = undefined));
    return this.swapping;
  }

  /**
   * A model fault on `version`: takes it out of service where something can replace it, and
   * resolves with where its rows go next. A primary that came from a hot swap rolls back to the
   * version it replaced (loaded again); a canary is dropped for the primary; a version already
   * swapped out hands its rows to the primary. Undefined: it stays and its rows run on it again.
   */
  fallbackFor(version: ServingVersion): Promise<ServingVersion | undefined> {
    let fallback = this.fallbacks.get(version);
    if (!fallback) {
      fallback = this.takeOutOfService(version);
      this.fallbacks.set(version, fallback);
      // Once settled, the next fault decides afresh (the version may be primary again).
      void fallback.finally(() => this.fallbacks.delete(version));
    }
    return fallback;
  }

  /** The primary and the canary serving now, as the canary guard compares them. */
  pair(): { primary: ModelIdentity; canary: ModelIdentity | undefined } | undefined {
    if (!this.router) return undefined;
    return { primary: this.router.primary.identity, canary: this.router.canary?.version.identity };
  }

  /** Whether a fault of `model` has somewhere to go: a hot-swapped primary, or the canary. */
  replaceable(model: LoadedModel): boolean {
    const router = this.router;
    if (!router) return false;
    if (router.canary?.version.model === model) return true;
    return router.primary.model === model && this.replacedDirectory !== undefined;
  }

  /** The role a version played when it answered (what its outcomes are scored under). */
  roleOf(identity: ModelIdentity): AnswerRole {
    return this.roles.get(identity) ?? 'primary';
  }

  /**
   * Takes the canary out of service because its answers are worse than the primary's
   * (feedback.canary.withdraw): the same path as after a model fault, logged and counted.
   */
  withdrawCanary(version: string): void {
    const canary = this.router.canary?.version;
    if (!canary || canary.identity.version !== version) return;
    this.router.dropCanary();
    this.publishInfo();
    this.noteRollback(
      canary,
      this.router.primary,
      'canary withdrawn: worse than the primary on outcomes',
    );
    this.retireInBackground(canary);
  }

  private async takeOutOfService(version: ServingVersion): Promise<ServingVersion | undefined> {
    const router = this.router;
    if (version === router.shadow?.version) return undefined;
    if (version === router.canary?.version) {
      router.dropCanary();
      this.publishInfo();
      this.noteRollback(version, router.primary, 'canary dropped after a model fault');
      void version.retire();
      return router.primary;
    }
    if (version !== router.primary) return router.primary;
    const previous = this.replacedDirectory;
    if (previous === undefined) return undefined;
    let restored: ServingVersion;
    try {
      restored = await this.load(previous);
    } catch (error) {
      this.logger.error(
        { err: errorMessage(error), directory: previous },
        'rollback failed: the previous version did not load; retrying the faulted one',
      );
      return undefined;
    }
    this.rejectedDirectories.add(version.model.directory);
    this.replacedDirectory = undefined;
    router.swapPrimary(restored);
    this.publishInfo();
    this.noteRollback(version, restored, 'model version rolled back after a model fault');
    this.retireInBackground(version);
    return restored;
  }

  private noteRollback(from: ServingVersion, to: ServingVersion, message: string): void {
    const { name, version } = from.identity;
    this.metrics.modelRollbacks.inc({ model: name, from: version, to: to.identity.version });
    this.logger.error({ model: name, from: version, to: to.identity.version }, message);
  }

  private retireInBackground(version: ServingVersion): void {
    const retired = version.retire().finally(() => this.retiring.delete(retired));
    this.retiring.add(retired);
  }

  /** Shutdown, after the final commit: versions finishing a swap end first; queued batches are not run. */
  async close(): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    await this.swapping?.catch(() => undefined);
    await Promise.allSettled([...this.fallbacks.values(), ...this.retiring]);
    if (this.router) await Promise.all(this.router.all().map((version) => version.stop()));
  }

  private async swapIfChanged(): Promise<void> {
    let directory: string;
    try {
      directory = this.primaryDirectory();
    } catch (error) {
      this.logger.warn(
        { err: errorMessage(error) },
        'model repository scan failed; keeping the current version',
      );
      return;
    }
    if (directory === this.router.primary.model.directory && this.repository) return;
    if (this.rejectedDirectories.has(directory)) return; // rolled back; waits for a newer one
    let next: ServingVersion;
    try {
      next = await this.load(directory);
    } catch (error) {
      this.logger.error(
        { err: errorMessage(error), directory },
        'new model version failed to load; keeping the current one',
      );
      return;
    }
    const previous = this.router.swapPrimary(next);
    this.replacedDirectory = previous.model.directory;
    this.metrics.modelSwaps.inc();
    this.publishInfo();
    this.logger.info(
      { from: previous.identity.version, to: next.identity.version },
      'model version swapped in',
    );
    await previous.retire();
  }

  private primaryDirectory(): string {
    return this.repository
      ? this.repository.resolve(this.options.version).directory
      : this.options.path!;
  }

  /** Loads a version on the configured device, or on `device` (a canary's own). */
  private async load(directory: string, device = this.options.device): Promise<ServingVersion> {
    // A canary on another device than the primary's gets that device's own "auto" thread count.
    const inferenceThreads =
      device === this.options.device ? this.options.inferenceThreads : autoInferenceThreads(device);
    const model = await LoadedModel.load(
      directory,
      {
        ...this.options,
        device,
        inferenceThreads,
        padToPreferredBatchSize: this.batching.padToPreferredBatchSize,
        preparation: this.preparation,
      },
      (stats) => {
        this.metrics.batchSize.observe(stats.batchSize);
        this.metrics.inferenceSeconds.observe(stats.elapsedMs / 1000);
      },
      (error) =>
        this.logger.error(
          { err: error.message, directory },
          'an inference thread died and could not be replaced; retrying with backoff',
        ),
    );
    this.logger.info(
      model.adapter ? { ...model.identity, adapter: model.adapter } : model.identity,
      'model version loaded and warm',
    );
    return new ServingVersion(
      model,
      this.batching,
      (version, batch) => this.runBatch(version, batch),
      monitoringFor(model.manifest, this.metrics, this.driftWindow),
    );
  }

  private publishInfo(): void {
    this.metrics.modelInfo.reset();
    const roles: [string, ServingVersion | undefined][] = [
      ['primary', this.router.primary],
      ['canary', this.router.canary?.version],
      ['shadow', this.router.shadow?.version],
    ];
    for (const [role, version] of roles) {
      if (!version) continue;
      const { name, version: number, provider } = version.identity;
      this.metrics.modelInfo.set({ model: name, version: number, provider, role }, 1);
    }
  }
}
