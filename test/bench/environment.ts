/** Section 5: the one-line description of the machine a run measured. */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.split(':').slice(1).join(':').trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}

function packageVersion(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return '?';
  }
}

export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

export function environmentLine(loadAtStart: string): string {
  return [
    `environment: CPU ${cpuModel()}`,
    `${cpus().length} cores (${availableParallelism()} available to Node)`,
    `node ${process.version}`,
    `onnxruntime-node ${packageVersion('onnxruntime-node')}`,
    `kafkajs ${packageVersion('kafkajs')}`,
    `load average ${loadAtStart} at start, ${loadAverage()} at end`,
    `date ${new Date().toISOString()}`,
  ].join(', ');
}
