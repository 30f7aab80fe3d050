// Fleet mode on PostgreSQL (issue 12). Two figures:
//  - queue throughput: no-op jobs claimed and completed per second by 1, 2 and 3 hosts (processes
//    of bench/fleet-worker.mjs, each with its own connections and BENCH_SLOTS job slots, claiming as
//    the scheduler does: up to min(free slots, 8) jobs per claim) on one PostgreSQL — the store's
//    queue path (SKIP LOCKED claim, lease, fenced end) with no sandbox in it; also one host claiming
//    one job at a time; baseline: one host on the embedded SQLite store;
//  - submit → start across hosts: a job submitted to a busy `paddock serve` (its one slot taken) is
//    started by an idle one, woken by NOTIFY, against the same with LISTEN off (polling every
//    fleet.poll_ms).
// Starts its own PostgreSQL (test/helpers/pg-server.mjs). Progress on stderr; the last stdout line
// is one JSON object. Env: BENCH_JOBS (3000), BENCH_SLOTS (8 per host), BENCH_SAMPLES (100),
// BENCH_POLL_SAMPLES (20).
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../dist/store/store.js';
import { startPostgres } from '../test/helpers/pg-server.mjs';
import { intEnv, round, startServe, summarize } from './lib.mjs';

const JOBS = intEnv('BENCH_JOBS', 3000);
const SLOTS = intEnv('BENCH_SLOTS', 8);
/** src/jobs/scheduler.ts CLAIM_BATCH. */
const CLAIM_BATCH = 8;
const SAMPLES = intEnv('BENCH_SAMPLES', 100);
const POLL_SAMPLES = intEnv('BENCH_POLL_SAMPLES', 20);
const POLL_MS = 1000;
const TARGETS = { pg_jobs_per_s_min: 500, notify_start_median_ms_max: 20 };
const WORKER = new URL('./fleet-worker.mjs', import.meta.url).pathname;

const progress = (msg) => process.stderr.write(`[bench fleet] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmp = (p) => mkdtempSync(path.join(os.tmpdir(), p));

const noop = (i) => ({
  id: `job_bench${String(i).padStart(8, '0')}`,
  kind: 'command',
  spec: { kind: 'command', command: ['true'], limits: {} },
  priority: 0,
  labels: undefined,
  token_id: null,
  idempotency_key: null,
  request_hash: null,
  driver: 'bwrap',
});

function startWorker(url, host, batch) {
  const proc = spawn(process.execPath, [WORKER, url, String(SLOTS), host, String(batch)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (t) => (out += t));
  const line = (re) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(out);
        if (m) resolve(m[0]);
      };
      proc.stdout.on('data', check);
      proc.once('exit', (code) => reject(new Error(`worker ${host} exited ${code}: ${out}`)));
      check();
    });
  return { ready: line(/^ready$/m), result: line(/^\{.*\}$/m).then(JSON.parse), go: () => proc.stdin.end('go\n') };
}

/** Jobs/s for `hosts` worker processes draining JOBS queued no-op jobs from the store at `url`. */
async function throughput(url, hosts, batch = CLAIM_BATCH) {
  const store = await openStore(url);
  for (let i = 0; i < JOBS; i++) await store.insertJob(noop(i));
  await store.close();
  const workers = Array.from({ length: hosts }, (_, i) => startWorker(url, `bench-${i}`, batch));
  await Promise.all(workers.map((w) => w.ready));
  const t0 = performance.now();
  workers.forEach((w) => w.go());
  const results = await Promise.all(workers.map((w) => w.result));
  const ms = performance.now() - t0;
  const done = results.reduce((n, r) => n + r.done, 0);
  if (done !== JOBS) throw new Error(`${done} of ${JOBS} jobs completed`);
  return { jobs_per_s: round((JOBS / ms) * 1000, 1), per_host: results.map((r) => r.done) };
}

/** Median submit → start of a job submitted to a busy host and started by an idle one. */
async function crossHostStart(pg, listen, samples) {
  const url = await pg.createDatabase();
  const fleet = (id, extra = {}) => ({ PADDOCK_STORE_URL: url, PADDOCK_HOST_ID: id, PADDOCK_STORAGE__RESERVE_MB: '0', PADDOCK_JUDGE__SMOKE: 'false', ...extra });
  const dirA = tmp('paddock-bench-fleet-a-');
  const busy = await startServe(dirA, fleet('busy', { PADDOCK_MAX_CONCURRENT_JOBS: '1' }));
  const dirB = tmp('paddock-bench-fleet-b-');
  copyFileSync(path.join(dirA, 'admin.token'), path.join(dirB, 'admin.token'));
  const idle = await startServe(dirB, fleet('idle', { PADDOCK_FLEET__LISTEN: String(listen), PADDOCK_FLEET__POLL_MS: String(POLL_MS) }));
  const api = async (method, p, body) => {
    const res = await fetch(`${busy.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${busy.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return res.json();
  };
  try {
    // The busy host's one slot: taken for the whole run, so what is submitted to it queues.
    const blocker = await api('POST', '/v1/jobs', { kind: 'command', command: ['sleep', '3600'] });
    await sleep(500);
    const ms = [];
    for (let i = 0; i < samples; i++) {
      const job = await api('POST', '/v1/jobs', { kind: 'command', command: ['true'] });
      let row;
      for (;;) {
        row = await api('GET', `/v1/jobs/${job.id}`);
        if (['succeeded', 'failed', 'timed_out', 'cancelled'].includes(row.state)) break;
        await sleep(5);
      }
      if (row.host !== 'idle') throw new Error(`job ${job.id} ran on ${row.host}`);
      ms.push(Date.parse(row.started_at) - Date.parse(row.created_at));
    }
    await api('POST', `/v1/jobs/${blocker.id}/cancel`);
    return summarize(ms);
  } finally {
    await idle.stop();
    await busy.stop();
  }
}

const pg = await startPostgres();
try {
  const figures = { pg_jobs_per_s: {}, submit_to_start_ms: {} };
  for (const hosts of [1, 2, 3]) {
    progress(`queue throughput: ${JOBS} no-op jobs, ${hosts} host(s) × ${SLOTS} slots, PostgreSQL`);
    figures.pg_jobs_per_s[`hosts_${hosts}`] = await throughput(await pg.createDatabase(), hosts);
  }
  progress(`queue throughput: ${JOBS} no-op jobs, 1 host × ${SLOTS} slots claiming one job at a time, PostgreSQL`);
  figures.pg_jobs_per_s_one_per_claim = { hosts_1: await throughput(await pg.createDatabase(), 1, 1) };
  progress(`queue throughput: ${JOBS} no-op jobs, 1 host × ${SLOTS} slots, SQLite (baseline)`);
  const baseline = { sqlite_jobs_per_s: { hosts_1: await throughput(`sqlite:${tmp('paddock-bench-fleet-')}/paddock.db`, 1) } };
  progress(`submit → start across hosts, NOTIFY: ${SAMPLES} jobs`);
  figures.submit_to_start_ms.notify = await crossHostStart(pg, true, SAMPLES);
  progress(`submit → start across hosts, polling every ${POLL_MS} ms: ${POLL_SAMPLES} jobs`);
  baseline.submit_to_start_ms = { polling: await crossHostStart(pg, false, POLL_SAMPLES) };
  const best = Math.max(...Object.values(figures.pg_jobs_per_s).map((f) => f.jobs_per_s));
  const ratios = {
    pg_3_hosts_vs_1: round(figures.pg_jobs_per_s.hosts_3.jobs_per_s / figures.pg_jobs_per_s.hosts_1.jobs_per_s, 2),
    batch_vs_one_per_claim: round(figures.pg_jobs_per_s.hosts_1.jobs_per_s / figures.pg_jobs_per_s_one_per_claim.hosts_1.jobs_per_s, 2),
    pg_1_host_vs_sqlite: round(figures.pg_jobs_per_s.hosts_1.jobs_per_s / baseline.sqlite_jobs_per_s.hosts_1.jobs_per_s, 2),
    notify_vs_polling_start: round(figures.submit_to_start_ms.notify.median / baseline.submit_to_start_ms.polling.median, 3),
  };
  const met = {
    pg_jobs_per_s: best >= TARGETS.pg_jobs_per_s_min,
    notify_start_median_ms: figures.submit_to_start_ms.notify.median <= TARGETS.notify_start_median_ms_max,
  };
  const config = { jobs: JOBS, slots_per_host: SLOTS, claim_batch: CLAIM_BATCH, samples: SAMPLES, poll_samples: POLL_SAMPLES, poll_ms: POLL_MS, cpus: os.availableParallelism() };
  process.stdout.write(`${JSON.stringify({ bench: 'fleet', figures, baseline, ratios, targets: TARGETS, met, config })}\n`);
} finally {
  await pg.close();
}
