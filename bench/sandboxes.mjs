// Persistent sandboxes through the API, per driver (bwrap, docker, gvisor): create → first
// exec result, the round trip of `true` on a live sandbox, and a 1 MiB file written and
// read back. Baselines measured in the same run: `docker run --rm` (a fresh container per
// command), `docker exec` into a running container (the usual way to reuse one), raw
// `bwrap` (a fresh namespace per command, no Paddock).
//
// Run with `npm run bench -- sandboxes` (needs dockerd with runsc and the `base` image).
// Progress goes to stderr; the last stdout line is one JSON object.
//
// Env overrides: BENCH_SAMPLES (100 round trips), BENCH_CREATE_SAMPLES (20), BENCH_FILE_SAMPLES (10).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { intEnv, round, spawnOnce, startRunner, summarize } from './lib.mjs';

const SAMPLES = intEnv('BENCH_SAMPLES', 100);
const CREATE_SAMPLES = intEnv('BENCH_CREATE_SAMPLES', 20);
const FILE_SAMPLES = intEnv('BENCH_FILE_SAMPLES', 10);
const DRIVERS = ['bwrap', 'docker', 'gvisor'];
const TARGETS = {
  docker_exec_median_ms_max: 10,
  exec_speedup_vs_docker_exec_min: 6,
  bwrap_exec_median_ms_max: 5,
  docker_create_first_exec_median_ms_max: 50,
  gvisor_create_first_exec_median_ms_max: 150,
};
const BWRAP_ARGV = [
  'bwrap', '--unshare-all', '--die-with-parent',
  '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib',
  '--symlink', 'usr/lib64', '/lib64', '--proc', '/proc', '--dev', '/dev',
  '/bin/echo', 'hi',
];
const progress = (msg) => process.stderr.write(`[bench sandboxes] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** PUT or GET of raw bytes on the runner's API (the JSON helper in lib.mjs cannot). */
function rawRequest(port, token, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1', port, method, path, agent: keepAlive,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : {}) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });

async function waitForPool(runner, name) {
  const driver = runner.rt.drivers.get(name);
  const spec = { limits: runner.config.limits.default, network: 'none' };
  for (let i = 0; i < 400 && (await driver.poolReady?.(spec)) < 1; i++) await sleep(25);
}

async function ok(promise, what) {
  const res = await promise;
  if (res.status >= 300) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
  return res.body;
}

async function perDriver(runner, name) {
  const api = runner.request;
  progress(`${name}: create → first exec × ${CREATE_SAMPLES} (warm pool)`);
  const create = [];
  for (let i = 0; i < CREATE_SAMPLES; i++) {
    await waitForPool(runner, name);
    const t0 = performance.now();
    const sbx = await ok(api('POST', '/v1/sandboxes', { driver: name }), `${name} create`);
    const r = await ok(api('POST', `/v1/sandboxes/${sbx.id}/exec`, { command: ['echo', 'hi'] }), `${name} exec`);
    create.push(performance.now() - t0);
    if (r.stdout !== 'hi\n') throw new Error(`${name}: exec said ${JSON.stringify(r)}`);
    await ok(api('DELETE', `/v1/sandboxes/${sbx.id}`), `${name} delete`);
  }

  const sbx = await ok(api('POST', '/v1/sandboxes', { driver: name }), `${name} create`);
  progress(`${name}: exec round trip of true × ${SAMPLES} on ${sbx.id}`);
  for (let i = 0; i < 5; i++) await ok(api('POST', `/v1/sandboxes/${sbx.id}/exec`, { command: ['true'] }), 'warm-up');
  const exec = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    const r = await ok(api('POST', `/v1/sandboxes/${sbx.id}/exec`, { command: ['true'] }), `${name} exec`);
    exec.push(performance.now() - t0);
    if (r.exit_code !== 0) throw new Error(`${name}: true exited ${r.exit_code}`);
  }

  progress(`${name}: 1 MiB write + read × ${FILE_SAMPLES}`);
  const data = randomBytes(1024 * 1024);
  const write = [];
  const read = [];
  for (let i = 0; i < FILE_SAMPLES; i++) {
    const p = `/v1/sandboxes/${sbx.id}/files?path=/work/blob-${i}`;
    let t0 = performance.now();
    const put = await rawRequest(runner.port, runner.token, 'PUT', p, data);
    write.push(performance.now() - t0);
    if (put.status !== 204) throw new Error(`${name}: PUT ${put.status} ${put.body}`);
    t0 = performance.now();
    const got = await rawRequest(runner.port, runner.token, 'GET', p);
    read.push(performance.now() - t0);
    if (got.status !== 200 || !got.body.equals(data)) throw new Error(`${name}: GET ${got.status}, ${got.body.length} bytes back`);
  }
  await ok(api('DELETE', `/v1/sandboxes/${sbx.id}`), `${name} delete`);
  return { create: summarize(create), exec: summarize(exec), write: summarize(write), read: summarize(read) };
}

function dockerBaselines(image) {
  progress(`baseline: docker run --rm × ${CREATE_SAMPLES}, docker exec × ${SAMPLES}`);
  return (async () => {
    const run = [];
    for (let i = 0; i < CREATE_SAMPLES; i++) run.push(await spawnOnce(['docker', 'run', '--rm', '--network', 'none', image, 'echo', 'hi']));
    const started = spawnSync('docker', ['run', '-d', '--rm', '--network', 'none', image, 'sleep', 'infinity'], { encoding: 'utf8' });
    if (started.status !== 0) throw new Error(`docker run -d: ${started.stderr}`);
    const id = started.stdout.trim();
    try {
      const exec = [];
      for (let i = 0; i < SAMPLES; i++) exec.push(await spawnOnce(['docker', 'exec', id, 'echo', 'hi']));
      return { run: summarize(run), exec: summarize(exec) };
    } finally {
      spawnSync('docker', ['rm', '-f', id]);
    }
  })();
}

async function main() {
  const loadBefore = os.loadavg();
  const runner = await startRunner({ drivers: DRIVERS, pool: { size: 2 } });
  let report;
  try {
    for (const d of runner.rt.drivers.list()) {
      if (!d.available) throw new Error(`driver ${d.name} not available: ${d.reason}`);
    }
    const figures = {};
    const results = {};
    for (const name of DRIVERS) results[name] = await perDriver(runner, name);
    const image = `paddock/${runner.config.docker.default_image}:latest`;
    const docker = await dockerBaselines(image);
    progress(`baseline: raw bwrap × ${SAMPLES}`);
    const bwrapRaw = [];
    for (let i = 0; i < SAMPLES; i++) bwrapRaw.push(await spawnOnce(BWRAP_ARGV));
    const bwrap = summarize(bwrapRaw);
    for (const [name, r] of Object.entries(results)) {
      figures[`${name}_create_first_exec_median_ms`] = r.create.median;
      figures[`${name}_create_first_exec_p99_ms`] = r.create.p99;
      figures[`${name}_exec_median_ms`] = r.exec.median;
      figures[`${name}_exec_p99_ms`] = r.exec.p99;
      figures[`${name}_write_1mib_median_ms`] = r.write.median;
      figures[`${name}_read_1mib_median_ms`] = r.read.median;
    }
    report = {
      bench: 'sandboxes',
      figures,
      baseline: {
        docker_run_median_ms: docker.run.median,
        docker_run_p99_ms: docker.run.p99,
        docker_exec_median_ms: docker.exec.median,
        docker_exec_p99_ms: docker.exec.p99,
        raw_bwrap_median_ms: bwrap.median,
        raw_bwrap_p99_ms: bwrap.p99,
      },
      ratios: {
        exec_speedup_vs_docker_exec: round(docker.exec.median / results.docker.exec.median, 2),
        gvisor_exec_speedup_vs_docker_exec: round(docker.exec.median / results.gvisor.exec.median, 2),
        bwrap_exec_speedup_vs_raw_bwrap: round(bwrap.median / results.bwrap.exec.median, 2),
        docker_create_first_exec_speedup_vs_docker_run: round(docker.run.median / results.docker.create.median, 2),
      },
      targets: TARGETS,
      met: {
        docker_exec: results.docker.exec.median <= TARGETS.docker_exec_median_ms_max,
        exec_speedup_vs_docker_exec: docker.exec.median / results.docker.exec.median >= TARGETS.exec_speedup_vs_docker_exec_min,
        bwrap_exec: results.bwrap.exec.median <= TARGETS.bwrap_exec_median_ms_max,
        docker_create_first_exec: results.docker.create.median <= TARGETS.docker_create_first_exec_median_ms_max,
        gvisor_create_first_exec: results.gvisor.create.median <= TARGETS.gvisor_create_first_exec_median_ms_max,
      },
      config: { cpu_count: os.availableParallelism(), loadavg_before: loadBefore.map((x) => round(x, 2)), loadavg_after: os.loadavg().map((x) => round(x, 2)), node: process.version, image },
    };
  } finally {
    keepAlive.destroy();
    await runner.close();
  }
  console.log(JSON.stringify(report));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
