/**
 * The benchmark's Python side (test/peers/*.py, confluent-kafka and onnxruntime from PyPI in the
 * peer virtualenv): the consumers a user would write instead of the worker, the open-loop load
 * generator, and the reader that times a topic by its broker timestamps.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { pythonPeer } from '../helpers/python-peer.js';

const BOOTSTRAP = '127.0.0.1:9092';

export type PeerMode = 'passthrough' | 'per-event' | 'per-poll';

const live = new Set<ChildProcess>();

/** Kills every peer still running (an aborted benchmark). */
export function killLivePeers(): void {
  for (const child of live) child.kill('SIGKILL');
}

function runPeer(script: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      pythonPeer(),
      [new URL(`../peers/${script}`, import.meta.url).pathname, '--bootstrap', BOOTSTRAP, ...args],
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        live.delete(child);
        if (error) reject(new Error(`${script} failed: ${error.message}\n${stderr.slice(-2000)}`));
        else resolve(stdout);
      },
    );
    live.add(child);
  });
}

/** A Python consumer draining `events` from `input` into `output`; resolves when it has. */
export async function drainWithPythonPeer(
  mode: PeerMode,
  topics: { input: string; output: string; groupId: string },
  events: number,
  modelDir: string | undefined,
  timeoutMs: number,
  /** Open loop: a short poll wait, and a file written once the peer has its partitions. */
  live?: { pollWaitMs: number; readyFile: string },
): Promise<void> {
  await runPeer(
    'bench_consumer.py',
    [
      mode,
      ...(live ? ['--poll-wait-ms', String(live.pollWaitMs), '--ready-file', live.readyFile] : []),
      '--input',
      topics.input,
      '--output',
      topics.output,
      '--group',
      topics.groupId,
      '--events',
      String(events),
      ...(modelDir ? ['--model', modelDir] : []),
    ],
    timeoutMs,
  );
}

export interface TopicStats {
  count: number;
  /** Broker timestamps (LogAppendTime on output topics) of the first and last record, ms. */
  first: number;
  last: number;
  /** Percentiles of broker timestamp − the prediction's eventTimestamp, ms (with latency). */
  latency: { '50': number; '95': number; '99': number } | null;
}

export async function topicStats(
  topic: string,
  withLatency: boolean,
  timeoutMs: number,
): Promise<TopicStats> {
  const args = ['--topic', topic, ...(withLatency ? ['--latency'] : [])];
  return JSON.parse(await runPeer('output_stats.py', args, timeoutMs)) as TopicStats;
}

/** Sends the JSON lines of `file` to `topic` at `rate` events/s, open loop. */
export async function produceAtRate(
  topic: string,
  file: string,
  rate: number,
  timeoutMs: number,
): Promise<{ sent: number; seconds: number; rate: number }> {
  const args = ['--topic', topic, '--file', file, '--rate', String(rate)];
  return JSON.parse(await runPeer('rate_producer.py', args, timeoutMs)) as {
    sent: number;
    seconds: number;
    rate: number;
  };
}

/**
 * A read_committed reader following `topic` (test/peers/visible_latency.py): resolves, once it
 * has `count` records, with the percentiles of arrival − eventTimestamp, ms. `readyFile` is
 * written once it reads, before the load starts.
 */
export async function visibleLatency(
  topic: string,
  count: number,
  readyFile: string,
  timeoutMs: number,
): Promise<{ count: number; latency: { '50': number; '95': number; '99': number } }> {
  const args = ['--topic', topic, '--count', String(count), '--ready-file', readyFile];
  args.push('--timeout-s', String(Math.round(timeoutMs / 1000)));
  return JSON.parse(await runPeer('visible_latency.py', args, timeoutMs + 10_000)) as {
    count: number;
    latency: { '50': number; '95': number; '99': number };
  };
}
