// Judge jobs, per driver: submissions/s and median latency of a Python "sum two numbers" with
// 10 tests, and of the same in C with its compile step; and the per-test cost beyond the
// program's own run time. Per-test cost = the slope of job time over test count (a submission
// with 10 tests against one with 60, so the sandbox and compile are out of it) minus the
// program's own run, measured in the same run as the same program started directly on the host
// (python3 / a gcc-built binary with the input on stdin).
//
// Run with `npm run bench -- judge` (needs the judge image: scripts/build-images.sh; dockerd with
// runsc for docker/gvisor). Progress goes to stderr; the last stdout line is one JSON object.
//
// Env overrides: BENCH_SAMPLES (10 latency samples per case), BENCH_THROUGHPUT (40 submissions),
// BENCH_DRIVERS (bwrap,docker,gvisor), PADDOCK_IMAGES_DIR.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { intEnv, round, startRunner, summarize } from './lib.mjs';

const SAMPLES = intEnv('BENCH_SAMPLES', 10);
const THROUGHPUT = intEnv('BENCH_THROUGHPUT', 40);
const DRIVERS = (process.env.BENCH_DRIVERS ?? 'bwrap,docker,gvisor').split(',').filter(Boolean);
const IMAGES_DIR = process.env.PADDOCK_IMAGES_DIR ?? '/var/cache/paddock/images';
const TARGETS = { bwrap_python_tests_per_s_min: 50, gvisor_python_tests_per_s_min: 20, bwrap_per_test_overhead_ms_max: 5 };
const progress = (msg) => process.stderr.write(`[bench judge] ${msg}\n`);

// Debian's python3, as in the judge image (a pyenv shim on PATH would add its own start-up).
const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p)) ?? 'python3';
const PY = 'a, b = map(int, input().split())\nprint(a + b)\n';
const C = '#include <stdio.h>\nint main(void) { long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 1; printf("%ld\\n", a + b); return 0; }\n';
const tests = (n) => Array.from({ length: n }, (_, i) => ({ stdin: `${i} ${i + 1}\n`, expected_output: `${2 * i + 1}\n` }));

function runOnce(argv, input) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 && out === '7\n' ? resolve(performance.now() - t0) : reject(new Error(`${argv[0]}: exit ${code}, ${out}`))));
    child.stdin.end(input);
  });
}

/** The programs alone on the host: what a test costs with no judge around it. */
async function hostBaselines() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-bench-judge-'));
  try {
    writeFileSync(path.join(dir, 'main.py'), PY);
    writeFileSync(path.join(dir, 'main.c'), C);
    execFileSync('gcc', ['-O2', '-o', path.join(dir, 'main'), path.join(dir, 'main.c')]);
    const py = [];
    const c = [];
    for (let i = 0; i < 30; i++) {
      py.push(await runOnce([PYTHON, '-B', '-S', path.join(dir, 'main.py')], '3 4\n'));
      c.push(await runOnce([path.join(dir, 'main')], '3 4\n'));
    }
    return { python: summarize(py), c: summarize(c) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function submit(runner, language, source, n) {
  const t0 = performance.now();
  const res = await runner.request('POST', '/v1/jobs?wait=true&wait_ms=120000', { kind: 'judge', language, source, tests: tests(n) });
  const ms = performance.now() - t0;
  if (res.status !== 201 || res.body.result?.verdict !== 'accepted') throw new Error(`judge ${language}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 600)}`);
  return { ms, tests: res.body.result.tests };
}

async function perDriver(runner, driver, host) {
  const out = {};
  for (const [language, source] of [['python', PY], ['c', C]]) {
    await submit(runner, language, source, 10); // warm-up
    progress(`${driver} ${language}: latency × ${SAMPLES} (10 tests), slope (10 vs 60 tests)`);
    const lat = [];
    const long = [];
    const testWall = [];
    for (let i = 0; i < SAMPLES; i++) {
      const a = await submit(runner, language, source, 10);
      lat.push(a.ms);
      const b = await submit(runner, language, source, 60);
      long.push(b.ms);
      testWall.push(...b.tests.map((t) => t.wall_ms));
    }
    const l = summarize(lat);
    const perTest = (summarize(long).median - l.median) / 50;
    progress(`${driver} ${language}: throughput, ${THROUGHPUT} submissions, ${2 * runner.config.max_concurrent_jobs} in flight`);
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < THROUGHPUT) {
        next++;
        await submit(runner, language, source, 10);
      }
    };
    await Promise.all(Array.from({ length: 2 * runner.config.max_concurrent_jobs }, worker));
    const secs = (performance.now() - t0) / 1000;
    out[language] = {
      submission_10_tests_ms: l,
      per_test_ms: round(perTest),
      test_wall_in_sandbox_ms: summarize(testWall),
      per_test_overhead_ms: round(perTest - host[language].median),
      submissions_per_s: round(THROUGHPUT / secs),
      tests_per_s: round((THROUGHPUT * 10) / secs),
    };
  }
  return out;
}

const host = await hostBaselines();
const figures = {};
for (const driver of DRIVERS) {
  let runner;
  try {
    runner = await startRunner({
      images_dir: IMAGES_DIR,
      drivers: [driver],
      ...(driver === 'bwrap' ? { sandbox: { uid_range_start: 62_950, uid_range_size: 20 } } : { docker: { uid_range_start: 295_000, uid_range_size: 20 } }),
    });
  } catch (err) {
    progress(`${driver}: skipped (${err.message})`);
    continue;
  }
  try {
    figures[driver] = await perDriver(runner, driver, host);
  } finally {
    await runner.close();
  }
}

const ratios = {};
for (const [d, f] of Object.entries(figures)) {
  ratios[`${d}_python_per_test_vs_host_run`] = round(f.python.per_test_ms / host.python.median, 2);
  ratios[`${d}_c_per_test_vs_host_run`] = round(f.c.per_test_ms / host.c.median, 2);
}
console.log(
  JSON.stringify({
    bench: 'judge',
    host: { cpus: os.cpus().length, node: process.version },
    figures,
    baseline: { host_python_run_ms: host.python, host_c_run_ms: host.c },
    ratios,
    targets: TARGETS,
    meets: {
      bwrap_python_tests_per_s: figures.bwrap ? figures.bwrap.python.tests_per_s >= TARGETS.bwrap_python_tests_per_s_min : null,
      gvisor_python_tests_per_s: figures.gvisor ? figures.gvisor.python.tests_per_s >= TARGETS.gvisor_python_tests_per_s_min : null,
      bwrap_per_test_overhead: figures.bwrap ? figures.bwrap.python.per_test_overhead_ms <= TARGETS.bwrap_per_test_overhead_ms_max : null,
    },
  }),
);
