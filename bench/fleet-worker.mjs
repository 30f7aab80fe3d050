// One "host" of bench/fleet.mjs: opens the store at argv[2] and, once told "go" on stdin, claims and
// completes no-op jobs with argv[3] slots until none is left; prints {"done": n, "ms": …} and exits.
// What is measured is the store's queue path (claim, lease, end), with no sandbox in it, driven as
// the scheduler drives it: a claim takes up to min(free slots, argv[4]) jobs (src/jobs/scheduler.ts
// CLAIM_BATCH; 1 = one at a time), and each freed slot claims again.
import { performance } from 'node:perf_hooks';
import { openStore } from '../dist/store/store.js';

const [url, slotsRaw, host, batchRaw] = process.argv.slice(2);
const slots = Number(slotsRaw);
const batch = Number(batchRaw ?? 1);
const store = await openStore(url, { poolSize: slots + 1 });
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const t0 = performance.now();
let done = 0;
let running = 0;
let claiming = false;
let drained = false;

await new Promise((resolve, reject) => {
  const end = async (row) => {
    const ended = await store.transitionJob({
      id: row.id,
      from: ['running'],
      to: 'succeeded',
      reason: 'exit_code',
      lease: row.lease_token,
      patch: { exit_code: 0 },
    });
    if (!ended) throw new Error(`job ${row.id}: its end was refused`);
    done++;
  };
  // One claim at a time per host, as the scheduler's claim loop; ends run concurrently.
  const pump = async () => {
    if (claiming || drained) return;
    claiming = true;
    try {
      while (running < slots) {
        const claimed = await store.claimJobs(host, 60_000, Math.min(slots - running, batch));
        if (claimed.length === 0) {
          drained = true;
          break;
        }
        for (const { row } of claimed) {
          running++;
          end(row)
            .then(() => {
              running--;
              if (drained && running === 0) resolve();
              else void pump().catch(reject);
            })
            .catch(reject);
        }
      }
    } finally {
      claiming = false;
    }
    if (drained && running === 0) resolve();
  };
  pump().catch(reject);
});
process.stdout.write(`${JSON.stringify({ done, ms: performance.now() - t0 })}\n`);
await store.close();
