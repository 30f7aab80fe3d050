// Latency and throughput of one `echo hi` job through Paddock's HTTP API, against
// the floor set by spawning raw bwrap (same namespaces, no Paddock) and plain
// fork/exec from the same Node process.
//
// Run with `npm run bench -- latency` (builds dist/ first). Progress goes to
// stderr; the last stdout line is one JSON object:
//   {"bench":"latency","figures":{...},"baseline":{...},"ratios":{...},"targets":{...},"met":{...},"config":{...}}
//
// Throughput (jobs_per_s) is measured with the load generator on a worker thread of its own
// (bench/http-load-worker.mjs), and again from the runner's own thread as earlier runs did.
//
// Env overrides: BENCH_SAMPLES (200), BENCH_WARMUP (20), BENCH_JOBS (1000),
// BENCH_CONCURRENCY (64), PADDOCK_MAX_CONCURRENT_JOBS (CPU count).
//
// Latency samples are interleaved (exec, bwrap, paddock, exec, bwrap, ...) so that
// load from other processes on the machine hits all three alike and the ratios
// stay meaningful even when the absolute numbers drift.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { bwrapArgs } from '../dist/sandbox/bwrap/args.js';
import { intEnv, round, spawnOnce, startRunner, summarize, timedJob } from './lib.mjs';

const TARGETS = { median_ms_max: 15, vs_bwrap_max: 2, jobs_per_s_min: 150 };
const JOB = { kind: 'command', command: ['echo', 'hi'] };
const BWRAP_ARGV = [
  'bwrap',
  '--unshare-all', '--die-with-parent',
  '--ro-bind', '/usr', '/usr',
  '--symlink', 'usr/bin', '/bin',
  '--symlink', 'usr/lib', '/lib',
  '--symlink', 'usr/lib64', '/lib64',
  '--proc', '/proc', '--dev', '/dev',
  '/bin/echo', 'hi',
];
const EXEC_ARGV = ['/bin/echo', 'hi'];

const cpuCount = os.availableParallelism?.() ?? os.cpus().length;
const SAMPLES = intEnv('BENCH_SAMPLES', 200);
const WARMUP = intEnv('BENCH_WARMUP', 20);
const JOBS = intEnv('BENCH_JOBS', 1000);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 64);
const MAX_CONCURRENT_JOBS = intEnv('PADDOCK_MAX_CONCURRENT_JOBS', cpuCount);

const progress = (msg) => process.stderr.write(`[bench latency] ${msg}\n`);

/** Submits one echo job and waits for it; fails loudly unless it printed "hi\n" and exited 0. */
function runJob(runner) {
  return timedJob(runner.request, JOB, 'hi\n');
}

/** JOBS echo jobs, CONCURRENCY in flight, from bench/http-load-worker.mjs on a thread of its own. */
function loadFromWorker(runner) {
  const w = new Worker(new URL('./http-load-worker.mjs', import.meta.url), {
    workerData: { port: runner.port, token: runner.token, spec: JOB, jobs: JOBS, concurrency: CONCURRENCY, expectStdout: 'hi\n' },
  });
  return new Promise((resolve, reject) => {
    w.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    w.once('error', reject);
  }).finally(() => w.terminate());
}

/**
 * The ceiling no runner can pass on this machine: Paddock's own bwrap argv (namespaces, binds,
 * tmpfs, its seccomp filter) with /bin/echo where the agent would be, spawned back to back from
 * `slots` shell loops, with no HTTP, store, cgroup, spawner or agent. jobs/s of the sandboxes alone.
 */
function bwrapCeiling(seccompFile, slots, jobs) {
  const etcDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-bench-etc-'));
  try {
    for (const f of ['passwd', 'group', 'hosts', 'hostname']) writeFileSync(path.join(etcDir, f), '\n');
    const args = bwrapArgs({ disk_mb: 512 }, { etcDir, agentPath: '/bin/echo', statusFd: 3, seccompFd: 5, marker: { name: 'M', value: 'x' }, agentArgs: ['hi'] });
    const script = 'n=$1; s=$2; shift 2; out=$(bwrap "$@" 3>/dev/null 5<"$s") && [ "$out" = hi ] || { echo "bwrap: $out" >&2; exit 1; }; ' +
      'loop() { i=0; while [ $i -lt $n ]; do bwrap "$@" 3>/dev/null 5<"$s" >/dev/null || exit 1; i=$((i+1)); done; }; ' +
      `t0=$(date +%s%N); for j in $(seq ${slots}); do loop "$@" & done; wait; echo $(( $(date +%s%N) - t0 ))`;
    const perSlot = Math.ceil(jobs / slots);
    const ns = Number(execFileSync('bash', ['-c', script, 'bash', String(perSlot), seccompFile, ...args], { encoding: 'utf8' }).trim());
    return round((perSlot * slots) / (ns / 1e9), 1);
  } finally {
    rmSync(etcDir, { recursive: true, force: true });
  }
}

// ---- the bench -------------------------------------------------------------

async function main() {
  const loadBefore = os.loadavg();
  progress(`cpus=${cpuCount} samples=${SAMPLES} warmup=${WARMUP} jobs=${JOBS} concurrency=${CONCURRENCY} max_concurrent_jobs=${MAX_CONCURRENT_JOBS}`);
  // bwrap only: this bench measures the bwrap path; bench/containers covers Docker.
  const runner = await startRunner({ max_concurrent_jobs: MAX_CONCURRENT_JOBS, drivers: ['bwrap'] }, CONCURRENCY);
  try {
    const health = (await runner.request('GET', '/health')).body;
    const bwrapDriver = health?.drivers?.find((d) => d.name === 'bwrap');
    if (!bwrapDriver?.available) throw new Error(`bwrap driver not available: ${JSON.stringify(health?.drivers)}`);

    progress('warming up');
    for (let i = 0; i < Math.max(5, Math.ceil(WARMUP / 2)); i++) {
      await spawnOnce(EXEC_ARGV);
      await spawnOnce(BWRAP_ARGV);
    }
    for (let i = 0; i < WARMUP; i++) await runJob(runner);

    progress(`latency: ${SAMPLES} interleaved samples each of exec, raw bwrap and Paddock`);
    const execMs = [];
    const bwrapMs = [];
    const paddockMs = [];
    const paddockWallMs = []; // the sandbox's own wall_ms as the runner measured it
    for (let i = 0; i < SAMPLES; i++) {
      execMs.push(await spawnOnce(EXEC_ARGV));
      bwrapMs.push(await spawnOnce(BWRAP_ARGV));
      const { ms, job } = await runJob(runner);
      paddockMs.push(ms);
      paddockWallMs.push(job.result.wall_ms);
      if ((i + 1) % 50 === 0) progress(`  ${i + 1}/${SAMPLES}`);
    }

    // Throughput twice: with the load generator on a thread of its own (as a runner's clients are
    // other processes: that is jobs_per_s), and on the runner's own event loop, as earlier runs did.
    progress(`throughput: ${JOBS} jobs, ${CONCURRENCY} requests in flight, from a worker thread`);
    const remote = await loadFromWorker(runner);
    progress(`throughput: ${JOBS} jobs, ${CONCURRENCY} requests in flight, from the runner's own thread`);
    const jobLatencies = [];
    let next = 0;
    let ok = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < JOBS) {
        next++;
        const { ms } = await runJob(runner);
        jobLatencies.push(ms);
        ok++;
        if (ok % 250 === 0) progress(`  ${ok}/${JOBS}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, JOBS) }, worker));
    const inProcessS = (performance.now() - t0) / 1000;
    if (ok !== JOBS) throw new Error(`only ${ok} of ${JOBS} jobs succeeded`);

    // Twice the cores in flight: a start waits on the kernel part of the time, so that many keep the CPUs busy.
    const ceilingSlots = Math.max(MAX_CONCURRENT_JOBS, 2 * cpuCount);
    progress(`ceiling: ${JOBS} of Paddock's bwrap sandboxes alone, ${ceilingSlots} at a time`);
    const ceiling = bwrapCeiling(path.join(runner.dataDir, 'bwrap', 'seccomp.bpf'), ceilingSlots, JOBS);

    const healthAfter = (await runner.request('GET', '/health')).body;
    const paddock = summarize(paddockMs);
    const bwrap = summarize(bwrapMs);
    const exec = summarize(execMs);
    const thr = summarize(remote.latencies);
    const jobsPerS = round(JOBS / remote.totalS, 1);
    const report = {
      bench: 'latency',
      figures: {
        paddock_median_ms: paddock.median,
        paddock_p99_ms: paddock.p99,
        paddock_min_ms: paddock.min,
        paddock_mean_ms: paddock.mean,
        paddock_sandbox_wall_median_ms: summarize(paddockWallMs).median,
        jobs_per_s: jobsPerS,
        jobs_per_s_client_in_runner_thread: round(JOBS / inProcessS, 1),
        throughput_total_s: round(remote.totalS, 2),
        throughput_jobs: JOBS,
        throughput_request_median_ms: thr.median,
        throughput_request_p99_ms: thr.p99,
      },
      baseline: {
        bwrap_median_ms: bwrap.median,
        bwrap_p99_ms: bwrap.p99,
        bwrap_min_ms: bwrap.min,
        exec_median_ms: exec.median,
        exec_p99_ms: exec.p99,
        exec_min_ms: exec.min,
        bwrap_command: BWRAP_ARGV.join(' '),
        // jobs/s of Paddock's own bwrap argv with echo in place of the agent and nothing else (bwrapCeiling).
        sandboxes_alone_jobs_per_s: ceiling,
      },
      ratios: {
        vs_bwrap: round(paddock.median / bwrap.median, 2),
        vs_exec: round(paddock.median / exec.median, 2),
        jobs_per_s_vs_sandboxes_alone: round(jobsPerS / ceiling, 2),
      },
      targets: TARGETS,
      met: {
        median_ms: paddock.median <= TARGETS.median_ms_max,
        vs_bwrap: paddock.median / bwrap.median <= TARGETS.vs_bwrap_max,
        jobs_per_s: jobsPerS >= TARGETS.jobs_per_s_min,
      },
      config: {
        samples: SAMPLES,
        warmup_jobs: WARMUP,
        concurrency: CONCURRENCY,
        max_concurrent_jobs: runner.config.max_concurrent_jobs,
        cpu_count: cpuCount,
        cpu_model: os.cpus()[0]?.model ?? null,
        loadavg_before: loadBefore.map((x) => round(x, 2)),
        loadavg_after: os.loadavg().map((x) => round(x, 2)),
        node: process.version,
        platform: `${os.type()} ${os.release()} ${os.arch()}`,
        running_as_root: process.getuid?.() === 0,
        http_client: 'node:http Agent keepAlive; for jobs_per_s on a worker thread',
        store: 'sqlite (WAL, synchronous=NORMAL) in a temp data dir',
        health: {
          status: healthAfter?.status,
          version: healthAfter?.version,
          drivers: healthAfter?.drivers,
        },
        // /health does not expose probe details; read them from the in-process runtime.
        driver_details: Object.fromEntries(runner.rt.drivers.list().map((d) => [d.name, d.details ?? {}])),
      },
    };
    console.log(JSON.stringify(report));
  } finally {
    progress('closing runner');
    await runner.close();
  }
}

main().then(
  () => {
    // Everything was closed; exit on our own once the event loop drains.
    process.exitCode = 0;
  },
  (err) => {
    console.error(`[bench latency] FAILED: ${err?.stack ?? err}`);
    process.exitCode = 1;
  },
);
