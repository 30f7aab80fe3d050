// A real `paddock serve` (bwrap, SQLite, loopback) under load: a burst of submits,
// event-stream readers that never read, a 500-job list page and bytes on disk per job.
//
// Run with `npm run bench -- load` (builds dist/ first; run by hand, it takes a few
// minutes). Progress goes to stderr; the last stdout line is one JSON object:
//   {"bench":"load","figures":{...},"baseline":{...},"ratios":{...},"targets":{...},"met":{...},"config":{...}}
//
// Baselines, measured in the same run, and why:
//   - raw_http_*: the same burst against a bare node:http server in its own process that
//     answers 201 at once — the floor any Node HTTP service has for accepting that many
//     connections on this machine, so submit latency is read as "Paddock's cost on top".
//   - idle_health_p99_ms / idle_rss_mb: the runner before any load; /health p99 under the
//     burst is compared with it (a queue of thousands must not slow /health down).
//   - same_job_no_readers_rss_growth_mb: the runner's peak RSS growth for the same 8 MiB job
//     with no stream open (after a warm-up run): what the job itself costs. RSS rarely shrinks,
//     so the readers' run, which comes after it, shows mostly their own cost.
//   - raw_output_bytes: the 1 MiB a job printed; disk per job is compared with it.
//   - list_full_output_bytes: the output the 500 listed jobs printed — about what a list page
//     carried when it held full outputs.
//
// Env overrides: BENCH_BURST (5000), BENCH_READERS (100), BENCH_DISK_JOBS (20).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { intEnv, round, startServe, summarize } from './lib.mjs';

const MiB = 1024 * 1024;
const BURST = intEnv('BENCH_BURST', 5000);
const READERS = intEnv('BENCH_READERS', 100);
const DISK_JOBS = intEnv('BENCH_DISK_JOBS', 20);
const TARGETS = { resets_max: 0, slow_readers_rss_growth_mb_max: 100, list_page_bytes_max: 5 * MiB, disk_bytes_per_job_max: 1.2 * MiB };
// Each burst job prints 16 KiB, so 500 of them in full would make an 8 MB list page.
const BURST_JOB = { kind: 'command', script: "head -c 16384 /dev/zero | tr '\\0' x" };

const progress = (msg) => process.stderr.write(`[bench load] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A bare HTTP server in its own process that answers every request 201 with a small JSON body. */
async function startRawServer() {
  const code = `
    const http = require('node:http');
    const s = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => { res.writeHead(201, { 'content-type': 'application/json' }); res.end('{"id":"x","state":"queued"}'); });
    });
    s.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => process.stdout.write(String(s.address().port) + '\\n'));`;
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => proc.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  return { port, stop: () => proc.kill('SIGTERM') };
}

// ---- HTTP ------------------------------------------------------------------

/** One request on its own connection; resolves with status or the socket error's code, and the latency. */
function once(port, token, method, p, body) {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const t0 = performance.now();
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: p,
        agent: false,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t0, body: Buffer.concat(chunks) }));
        res.on('error', (err) => resolve({ error: err.code ?? err.message, ms: performance.now() - t0 }));
      },
    );
    req.setTimeout(120_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err) => resolve({ error: err.code ?? err.message, ms: performance.now() - t0 }));
    req.end(payload);
  });
}

const json = (r) => JSON.parse(r.body.toString('utf8'));

/** `n` submits at once, each on its own connection; counts answers by status and errors by code. */
async function burst(port, token, n, body) {
  const results = await Promise.all(Array.from({ length: n }, () => once(port, token, 'POST', '/v1/jobs', body)));
  const statuses = {};
  const errors = {};
  for (const r of results) {
    if (r.error) errors[r.error] = (errors[r.error] ?? 0) + 1;
    else statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  }
  const answered = results.filter((r) => !r.error);
  return { statuses, errors, latency: summarize(answered.map((r) => r.ms)), results };
}

/**
 * /health every `everyMs` until stopped, on one keep-alive connection opened before
 * the burst: it measures how fast the runner answers, not where a new connection
 * lands in a kernel accept queue that the burst's own 5,000 connects fill.
 * Returns the latencies (failures count as Infinity).
 */
async function pollHealth(port, everyMs = 50) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.get({ host: '127.0.0.1', port, path: '/health', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t0 }));
      });
      req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    });
  await get();
  const ms = [];
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const r = await get();
      ms.push(r.status === 200 ? r.ms : Infinity);
      await sleep(everyMs);
    }
  })();
  return async () => {
    stop = true;
    await loop;
    agent.destroy();
    return ms;
  };
}

async function healthSamples(port, n) {
  const ms = [];
  for (let i = 0; i < n; i++) ms.push((await once(port, '', 'GET', '/health')).ms);
  return summarize(ms);
}

async function metric(server, name) {
  const r = await once(server.port, server.token, 'GET', '/metrics');
  const line = r.body.toString('utf8').split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

async function waitForJob(server, id, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = json(await once(server.port, server.token, 'GET', `/v1/jobs/${id}`));
    if (['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'].includes(job.state)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} did not end: ${JSON.stringify(job).slice(0, 300)}`);
    await sleep(100);
  }
}

async function waitForIdle(server, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = json(await once(server.port, '', 'GET', '/health'));
    if (h.queueLength === 0 && h.currentJobs === 0) return;
    if (Date.now() > deadline) throw new Error(`queue did not drain: ${JSON.stringify(h)}`);
    await sleep(500);
  }
}

const submitOk = async (server, spec) => {
  const r = await once(server.port, server.token, 'POST', '/v1/jobs', spec);
  if (r.status !== 201) throw new Error(`submit: HTTP ${r.status ?? r.error} ${r.body?.toString().slice(0, 300)}`);
  return json(r);
};

// ---- the parts -------------------------------------------------------------

/** A job that waits `waitS` (so readers can connect first), then prints 8 MiB. */
const printer = (waitS) => ({
  kind: 'command',
  script: `sleep ${waitS}; head -c ${8 * MiB} /dev/zero | tr '\\0' a`,
  limits: { output_bytes: 16 * MiB, timeout_ms: 120_000 },
});

/** Peak RSS growth of the runner while the same 8 MiB job runs with no stream at all (after a warm-up run). */
async function noReaders(server) {
  await waitForJob(server, (await submitOk(server, printer(0))).id);
  server.resetPeak();
  const rssBefore = server.rssMb();
  await waitForJob(server, (await submitOk(server, printer(0))).id);
  await sleep(500);
  return round(server.peakMb() - rssBefore, 1);
}

async function slowReaders(server) {
  const job = await submitOk(server, printer(3));
  const cutBefore = await metric(server, 'paddock_event_streams_cut_total');
  const sockets = [];
  for (let i = 0; i < READERS; i++) {
    const s = net.connect({ host: '127.0.0.1', port: server.port });
    s.on('error', () => undefined); // cut off: the runner resets the connection
    s.write(`GET /v1/jobs/${job.id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${server.token}\r\n\r\n`);
    s.pause(); // and never read
    sockets.push(s);
  }
  while ((await metric(server, 'paddock_event_streams_open')) < READERS) await sleep(20);
  server.resetPeak();
  const rssBefore = server.rssMb();
  const ended = await waitForJob(server, job.id);
  await sleep(500);
  const growth = server.peakMb() - rssBefore;
  const cut = (await metric(server, 'paddock_event_streams_cut_total')) - cutBefore;
  for (const s of sockets) s.destroy();
  return { growthMb: round(growth, 1), cut, jobState: ended.state };
}

async function listPage(server) {
  const r = await once(server.port, server.token, 'GET', '/v1/jobs?limit=500');
  const page = json(r);
  // What the listed jobs printed: the output a page of full jobs carried.
  const printed = page.jobs.length * 16384;
  return { bytes: r.body.length, jobs: page.jobs.length, fullOutputBytes: printed, ms: round(r.ms, 1) };
}

/** Bytes the store grew by per job printing 1 MiB (`text`: 'a'; `nul`: NUL bytes), with the WAL checkpointed by a stop. */
async function diskPerJob() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-bench-disk-'));
  const dbBytes = () =>
    ['paddock.db', 'paddock.db-wal'].reduce((n, f) => {
      try {
        return n + statSync(path.join(dataDir, f)).size;
      } catch {
        return n;
      }
    }, 0);
  try {
    const out = {};
    let server = await startServe(dataDir);
    await server.stop();
    for (const [name, script] of [
      ['text', `head -c ${MiB} /dev/zero | tr '\\0' a`],
      ['nul', `head -c ${MiB} /dev/zero`],
    ]) {
      const before = dbBytes();
      server = await startServe(dataDir);
      for (let i = 0; i < DISK_JOBS; i++) {
        const job = await submitOk(server, { kind: 'command', script, limits: { output_bytes: 2 * MiB } });
        const ended = await waitForJob(server, job.id);
        if (ended.state !== 'succeeded') throw new Error(`disk job ${name} ended ${ended.state}/${ended.reason}`);
      }
      await server.stop();
      out[name] = Math.round((dbBytes() - before) / DISK_JOBS);
    }
    return out;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---- the bench -------------------------------------------------------------

async function main() {
  const loadBefore = os.loadavg();
  progress(`burst=${BURST} readers=${READERS} disk_jobs=${DISK_JOBS}`);

  progress('baseline: the same burst against a bare node:http server');
  const raw = await startRawServer();
  let rawBurst;
  try {
    await burst(raw.port, '', 50, BURST_JOB); // warm-up
    rawBurst = await burst(raw.port, '', BURST, BURST_JOB);
  } finally {
    raw.stop();
  }

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-bench-load-'));
  const server = await startServe(dataDir);
  let report;
  try {
    await sleep(1000);
    const idleHealth = await healthSamples(server.port, 200);
    const idleRss = server.rssMb();

    progress(`burst: ${BURST} submits at once, each on its own connection, /health polled meanwhile`);
    const stopHealth = await pollHealth(server.port);
    const b = await burst(server.port, server.token, BURST, BURST_JOB);
    const healthMs = await stopHealth();
    const healthFailures = healthMs.filter((x) => x === Infinity).length;
    const health = summarize(healthMs.filter((x) => x !== Infinity));
    progress(`  answers ${JSON.stringify(b.statuses)} errors ${JSON.stringify(b.errors)}; waiting for the queue to drain`);
    await waitForIdle(server);

    progress(`slow readers: ${READERS} streams that never read, on a job printing 8 MiB`);
    const noReadersGrowth = await noReaders(server);
    const readers = await slowReaders(server);

    progress('list page: GET /v1/jobs?limit=500');
    const list = await listPage(server);

    await server.stop();
    progress(`disk: ${DISK_JOBS} jobs printing 1 MiB each (text, then NUL bytes)`);
    const disk = await diskPerJob();

    const resets = Object.values(b.errors).reduce((a, n) => a + n, 0);
    const others = Object.entries(b.statuses).filter(([s]) => s !== '201' && s !== '429');
    report = {
      bench: 'load',
      figures: {
        burst_submits: BURST,
        burst_201: b.statuses['201'] ?? 0,
        burst_429: b.statuses['429'] ?? 0,
        burst_other_status: Object.fromEntries(others),
        burst_connection_errors: resets,
        burst_errors_by_code: b.errors,
        submit_p50_ms: b.latency.median,
        submit_p99_ms: b.latency.p99,
        health_during_burst_p99_ms: health.p99,
        health_during_burst_max_ms: health.max,
        health_during_burst_samples: healthMs.length,
        health_during_burst_failures: healthFailures,
        slow_readers: READERS,
        slow_readers_rss_growth_mb: readers.growthMb,
        slow_readers_cut_off: readers.cut,
        slow_readers_job_state: readers.jobState,
        list_page_jobs: list.jobs,
        list_page_bytes: list.bytes,
        list_page_ms: list.ms,
        disk_bytes_per_job_1mib_text: disk.text,
        disk_bytes_per_job_1mib_nul: disk.nul,
      },
      baseline: {
        raw_http_burst_p50_ms: rawBurst.latency.median,
        raw_http_burst_p99_ms: rawBurst.latency.p99,
        raw_http_burst_connection_errors: Object.values(rawBurst.errors).reduce((a, n) => a + n, 0),
        idle_health_p99_ms: idleHealth.p99,
        idle_rss_mb: round(idleRss, 1),
        same_job_no_readers_rss_growth_mb: noReadersGrowth,
        raw_output_bytes: MiB,
        list_full_output_bytes: list.fullOutputBytes,
      },
      ratios: {
        submit_p99_vs_raw_http: round(b.latency.p99 / rawBurst.latency.p99, 2),
        health_p99_burst_vs_idle: round(health.p99 / idleHealth.p99, 2),
        slow_readers_growth_vs_idle_rss: round(readers.growthMb / idleRss, 2),
        list_page_vs_full_output: round(list.bytes / list.fullOutputBytes, 3),
        disk_vs_raw_text: round(disk.text / MiB, 2),
        disk_vs_raw_nul: round(disk.nul / MiB, 2),
      },
      targets: TARGETS,
      met: {
        resets: resets <= TARGETS.resets_max,
        only_201_or_429: others.length === 0 && resets === 0,
        slow_readers_rss_growth: readers.growthMb < TARGETS.slow_readers_rss_growth_mb_max,
        list_page_bytes: list.bytes < TARGETS.list_page_bytes_max,
        disk_bytes_per_job: Math.max(disk.text, disk.nul) <= TARGETS.disk_bytes_per_job_max,
      },
      config: {
        fd_limit_bench: readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)/)?.[1] ?? null,
        somaxconn: readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim(),
        cpu_count: os.availableParallelism?.() ?? os.cpus().length,
        loadavg_before: loadBefore.map((x) => round(x, 2)),
        loadavg_after: os.loadavg().map((x) => round(x, 2)),
        node: process.version,
        driver: 'bwrap',
        burst_job: BURST_JOB.script,
      },
    };
  } finally {
    if (server.proc.exitCode === null && server.proc.signalCode === null) await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(report));
}

main().catch((err) => {
  console.error(`[bench load] FAILED: ${err?.stack ?? err}`);
  process.exitCode = 1;
});
