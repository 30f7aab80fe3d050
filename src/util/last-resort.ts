import type { Logger } from './log.js';

/**
 * The runner holds every running job of every user: one stray error (an
 * `error` event nobody listened to, a promise nobody awaited) must not end
 * them all. Such errors are bugs; they are logged loudly and counted, and the
 * process keeps serving. Returns how many were caught, for /health and tests.
 */
export function installLastResortHandlers(log: Logger): () => number {
  let caught = 0;
  process.on('uncaughtException', (err, origin) => {
    caught++;
    log.error({ err, origin }, 'uncaught error (a bug); the runner keeps running');
  });
  process.on('unhandledRejection', (reason) => {
    caught++;
    log.error({ err: reason }, 'unhandled rejection (a bug); the runner keeps running');
  });
  return () => caught;
}
