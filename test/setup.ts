import { beforeEach } from 'vitest';
import { serversSince } from './helpers/server-process.js';

/** The tail of each `paddock serve`'s log when a test it served fails: a 500's cause is only there. */
const TAIL = 8192;

beforeEach((ctx) => {
  const since = Date.now();
  ctx.onTestFailed(() => {
    for (const server of serversSince(since)) {
      const log = server.stderr();
      if (log) process.stderr.write(`\n--- ${server.url} (pid ${server.proc.pid}) log, last ${TAIL} bytes ---\n${log.slice(-TAIL)}\n`);
    }
  });
});
