// Submit→result latency of `echo hi` through Paddock's Docker drivers: runc with
// the warm pool, runc without it (cold), gVisor with the pool — against raw
// `docker run --rm --network none IMAGE echo hi` on the same image (the docker CLI,
// as a user would; --network none like Paddock's containers, which also spares the
// baseline the bridge setup, so the comparison does not flatter Paddock).
//
// Run with `npm run bench -- containers` (needs dockerd with runsc and the `base`
// image: scripts/install-docker.sh, paddock image build base). Progress goes to
// stderr; the last stdout line is one JSON object.
//
// Env overrides: BENCH_SAMPLES (30), BENCH_COLD_SAMPLES (12).
import os from 'node:os';
import { intEnv, round, spawnOnce, startRunner, summarize, timedJob } from './lib.mjs';

const TARGETS = { warm_median_ms_max: 100, speedup_vs_docker_run_min: 3, stretch_warm_median_ms_max: 25 };
const SAMPLES = intEnv('BENCH_SAMPLES', 30);
const COLD_SAMPLES = intEnv('BENCH_COLD_SAMPLES', 12);
const progress = (msg) => process.stderr.write(`[bench containers] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs `echo hi` on `driver`; with a pool, first waits until a warm container is ready so each sample is a warm one. */
async function samples(runner, driver, n, { warm }) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    if (warm) await waitForPool(runner, driver);
    ms.push((await timedJob(runner.request, { kind: 'command', driver, command: ['echo', 'hi'] }, 'hi\n')).ms);
  }
  return summarize(ms);
}

async function waitForPool(runner, driverName) {
  const driver = runner.rt.drivers.get(driverName);
  const spec = { limits: runner.config.limits.default, network: 'none' };
  for (let i = 0; i < 200 && (await driver.poolReady(spec)) < 1; i++) await sleep(25);
}

async function main() {
  const loadBefore = os.loadavg();
  const warmRunner = await startRunner({ drivers: ['gvisor', 'docker'], pool: { size: 2 } });
  let report;
  try {
    for (const d of warmRunner.rt.drivers.list()) {
      if (!d.available) throw new Error(`driver ${d.name} not available: ${d.reason}`);
    }
    const image = `paddock/${warmRunner.config.docker.default_image}:latest`;
    progress(`image ${image}; warming up`);
    await samples(warmRunner, 'docker', 3, { warm: true });
    await samples(warmRunner, 'gvisor', 3, { warm: true });

    const dockerRunArgv = ['docker', 'run', '--rm', '--network', 'none', image, 'echo', 'hi'];
    progress(`raw ${dockerRunArgv.join(' ')} × ${COLD_SAMPLES}`);
    const raw = [];
    for (let i = 0; i < COLD_SAMPLES; i++) raw.push(await spawnOnce(dockerRunArgv));
    const rawRunsc = [];
    for (let i = 0; i < COLD_SAMPLES; i++) {
      rawRunsc.push(await spawnOnce([...dockerRunArgv.slice(0, 3), '--runtime', 'runsc', ...dockerRunArgv.slice(3)]));
    }

    progress(`docker warm pool × ${SAMPLES}`);
    const warm = await samples(warmRunner, 'docker', SAMPLES, { warm: true });
    progress(`gvisor warm pool × ${SAMPLES}`);
    const gvisor = await samples(warmRunner, 'gvisor', SAMPLES, { warm: true });
    await warmRunner.close();

    progress(`docker without pool × ${COLD_SAMPLES}`);
    const coldRunner = await startRunner({ drivers: ['docker'], pool: { size: 0 } });
    let cold;
    try {
      cold = await samples(coldRunner, 'docker', COLD_SAMPLES, { warm: false });
    } finally {
      await coldRunner.close();
    }

    const dockerRun = summarize(raw);
    report = {
      bench: 'containers',
      figures: {
        warm_median_ms: warm.median,
        warm_p99_ms: warm.p99,
        cold_median_ms: cold.median,
        cold_p99_ms: cold.p99,
        gvisor_warm_median_ms: gvisor.median,
        gvisor_warm_p99_ms: gvisor.p99,
      },
      baseline: {
        docker_run_median_ms: dockerRun.median,
        docker_run_p99_ms: dockerRun.p99,
        docker_run_runsc_median_ms: summarize(rawRunsc).median,
        command: `docker run --rm --network none ${image} echo hi`,
      },
      ratios: {
        speedup_vs_docker_run: round(dockerRun.median / warm.median, 2),
        cold_vs_docker_run: round(cold.median / dockerRun.median, 2),
        gvisor_speedup_vs_docker_run_runsc: round(summarize(rawRunsc).median / gvisor.median, 2),
      },
      targets: TARGETS,
      met: {
        warm_median_ms: warm.median <= TARGETS.warm_median_ms_max,
        speedup_vs_docker_run: dockerRun.median / warm.median >= TARGETS.speedup_vs_docker_run_min,
        stretch_warm_median_ms: warm.median <= TARGETS.stretch_warm_median_ms_max,
      },
      config: {
        samples: SAMPLES,
        cold_samples: COLD_SAMPLES,
        pool_size: 2,
        image,
        cpu_count: os.availableParallelism?.() ?? os.cpus().length,
        loadavg_before: loadBefore.map((x) => round(x, 2)),
        loadavg_after: os.loadavg().map((x) => round(x, 2)),
        node: process.version,
      },
    };
  } finally {
    await warmRunner.close();
  }
  console.log(JSON.stringify(report));
}

main().catch((err) => {
  console.error(`[bench containers] FAILED: ${err?.stack ?? err}`);
  process.exitCode = 1;
});
