/**
 * Redis for the local stack on 127.0.0.1:6379: reuses one that already answers PING (and then never
 * stops it), else runs Debian's redis-server without persistence, installing it with apt when missing.
 */
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { STACK_DIR, type StackComponent } from './component.js';
import {
  aptInstall,
  isProcessAlive,
  launchDaemon,
  onPath,
  runningPid,
  stopDaemon,
  waitUntilReady,
  withStartLock,
} from './daemon.js';

export const REDIS_HOST = '127.0.0.1';
export const REDIS_PORT = 6379;
export const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}`;

const DIR = join(STACK_DIR, 'redis');
const PID_FILE = join(DIR, 'redis.pid');
const START_LOCK = join(DIR, 'start.lock');
const LOG_FILE = join(DIR, 'redis.log');
/** `redis-server` rewrites its process title to "redis-server 127.0.0.1:6379". */
const CMDLINE_MARKER = 'redis-server';

/** Sends PING over a raw socket; true only for +PONG (a NOAUTH error means we cannot use it). */
function ping(timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: REDIS_HOST, port: REDIS_PORT });
    let reply = '';
    const done = (up: boolean): void => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export const redis: StackComponent = {
  name: 'redis',
  endpoint: `${REDIS_HOST}:${REDIS_PORT}`,
  logFile: LOG_FILE,

  async install(): Promise<void> {
    if (onPath('redis-server')) return;
    if (await ping()) return; // someone else's Redis is serving; nothing to install
    aptInstall('redis', ['redis-server']);
    if (!onPath('redis-server'))
      throw new Error('redis: apt-get installed redis-server but it is not on PATH');
  },

  isUp: () => ping(),

  async start(): Promise<void> {
    if (await ping()) return;
    await withStartLock(START_LOCK, 60_000, async () => {
      if (await ping()) return; // another process started it while we waited
      let pid = runningPid(PID_FILE, CMDLINE_MARKER);
      if (pid === undefined) {
        await redis.install();
        pid = launchDaemon({
          name: 'redis',
          command: 'redis-server',
          args: [
            '--port',
            String(REDIS_PORT),
            '--bind',
            REDIS_HOST,
            '--save',
            '',
            '--appendonly',
            'no',
            '--daemonize',
            'no',
            '--dir',
            DIR,
          ],
          pidFile: PID_FILE,
          logFile: LOG_FILE,
          cmdlineMarker: CMDLINE_MARKER,
          cwd: DIR,
        });
      }
      const launched = pid;
      await waitUntilReady({
        name: `redis (pid ${launched})`,
        ready: () => ping(),
        alive: () => isProcessAlive(launched),
        timeoutMs: 20_000,
        logFile: LOG_FILE,
        intervalMs: 100,
      });
    });
  },

  async stop(): Promise<void> {
    // Only the process our pid file names: a Redis someone else started is left alone.
    await stopDaemon(PID_FILE, CMDLINE_MARKER, 10_000);
  },
};
