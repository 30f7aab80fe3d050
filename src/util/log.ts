import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs to stderr; context (jobId, sandboxId) goes in child loggers. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { app: 'paddock' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}
