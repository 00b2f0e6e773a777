import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'kafka-inference-worker'): Logger {
  return pino({ name, level });
}
