import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import { MANIFEST_FILE, MODEL_FILE } from './model-manifest.js';

/**
 * A model repository: <root>/<name>/<version>/{model.onnx, model.json}. Versions compare
 * numeric-aware: digit runs as numbers ("1.10" after "1.9", "10" after "9"), the rest as text.
 */
export class ModelRepository {
  constructor(
    readonly root: string,
    readonly name: string,
  ) {}

  /** Complete versions (both files present), oldest first. */
  versions(): string[] {
    const dir = join(this.root, this.name);
    if (!existsSync(dir)) throw new ModelLoadError(`model repository has no folder ${dir}`);
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .filter(
        (version) =>
          existsSync(join(dir, version, MODEL_FILE)) &&
          existsSync(join(dir, version, MANIFEST_FILE)),
      )
      .sort(compareVersions);
  }

  /** The folder of `version`, where "latest" is the highest complete version. */
  resolve(version: string): { version: string; directory: string } {
    const versions = this.versions();
    const chosen = version === 'latest' ? versions.at(-1) : versions.find((v) => v === version);
    if (!chosen) {
      const have = versions.length ? versions.join(', ') : 'none';
      throw new ModelLoadError(
        `model "${this.name}" has no version "${version}" in ${this.root} (versions: ${have})`,
      );
    }
    return { version: chosen, directory: join(this.root, this.name, chosen) };
  }
}

/** Runs of digits compare as numbers: "1.10" after "1.9", "10" after "9", "v10" after "v2". */
const NUMERIC_AWARE = new Intl.Collator('en', { numeric: true });

export function compareVersions(a: string, b: string): number {
  return NUMERIC_AWARE.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}
