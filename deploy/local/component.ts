/** One service of the local development stack (Kafka, Redis, schema registry). */
export interface StackComponent {
  /** Short name used in logs and `stack status`, e.g. "kafka". */
  readonly name: string;
  /** Where clients reach it, e.g. "127.0.0.1:9092" or "http://127.0.0.1:8081". */
  readonly endpoint: string;
  /** Installs what a fresh machine lacks (jars via Maven, apt packages). Idempotent. */
  install(): Promise<void>;
  /** True when the service answers real requests (not merely a listening socket). */
  isUp(): Promise<boolean>;
  /** Starts it in the background if it is not up; resolves once isUp() is true. Idempotent. */
  start(): Promise<void>;
  /** Stops what `start` started; a no-op when it is not running or was started by someone else. */
  stop(): Promise<void>;
  /** Log file of the process `start` launched, when there is one. */
  readonly logFile?: string;
}

/** Gitignored folder holding the stack's data, pids and logs. */
export const STACK_DIR = new URL('../../.stack/', import.meta.url).pathname;
