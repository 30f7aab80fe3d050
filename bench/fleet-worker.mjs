// One "host" of bench/fleet.mjs: opens the store at argv[2] and, once told "go" on stdin, claims and
// completes no-op jobs with argv[3] claimers until none is left; prints {"done": n, "ms": …} and exits.
// What is measured is the store's queue path (claim, lease, end), with no sandbox in it.
import { performance } from 'node:perf_hooks';
import { openStore } from '../dist/store/store.js';

const [url, claimersRaw, host] = process.argv.slice(2);
const store = await openStore(url, { poolSize: Number(claimersRaw) + 1 });
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const t0 = performance.now();
let done = 0;
await Promise.all(
  Array.from({ length: Number(claimersRaw) }, async () => {
    for (;;) {
      const claimed = await store.claimNextJob(host, 60_000);
      if (!claimed) return;
      const ended = await store.transitionJob({
        id: claimed.row.id,
        from: ['running'],
        to: 'succeeded',
        reason: 'exit_code',
        lease: claimed.row.lease_token,
        patch: { exit_code: 0 },
      });
      if (!ended) throw new Error(`job ${claimed.row.id}: its end was refused`);
      done++;
    }
  }),
);
process.stdout.write(`${JSON.stringify({ done, ms: performance.now() - t0 })}\n`);
await store.close();
