// The E2B and Daytona SDKs against Paddock, per driver, beside the same flows through Paddock's
// native API in the same run: create → first command result, and a command's round trip on a live
// sandbox. The compat layers should add ≤ 2 ms to a round trip; create → first result should beat
// E2B's published ~150 ms sandbox start on docker and gVisor from the warm pool.
//
// Run with `npm run bench -- sdk` (builds dist/ first). Progress on stderr; the last stdout line is
//   {"bench":"sdk","figures":{...},"baseline":{...},"ratios":{...},"targets":{...},"met":{...},"config":{...}}
//
// Env: BENCH_DRIVERS (bwrap,docker,gvisor), BENCH_CREATES (10 per API and driver), BENCH_ROUND_TRIPS
// (100), BENCH_CREATE_GAP_MS (1500: time for the warm pool to refill between creates),
// PADDOCK_IMAGES_DIR (/var/cache/paddock/images: where bwrap finds the `base` image).
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Daytona } from '@daytonaio/sdk';
import { Sandbox } from 'e2b';
import { intEnv, round, startRunner, summarize } from './lib.mjs';

const TARGETS = { compat_adds_ms_max: 2, create_first_ms_max: 150 };
const DRIVERS = (process.env.BENCH_DRIVERS ?? 'bwrap,docker,gvisor').split(',').filter(Boolean);
const CREATES = intEnv('BENCH_CREATES', 10);
const ROUND_TRIPS = intEnv('BENCH_ROUND_TRIPS', 100);
const GAP_MS = intEnv('BENCH_CREATE_GAP_MS', 1500);
const IMAGES_DIR = process.env.PADDOCK_IMAGES_DIR ?? '/var/cache/paddock/images';

const progress = (msg) => process.stderr.write(`[bench sdk] ${msg}\n`);

function expectHi(what, stdout, exitCode) {
  if (exitCode !== 0 || stdout !== 'hi\n') throw new Error(`${what}: expected "hi\\n" and exit 0, got ${JSON.stringify(stdout)} exit ${exitCode}`);
}

/** The native API's flows; `argv` maps the command to the argv that reaches the sandbox. */
function nativeFlow(runner, argv) {
  return {
    async create() {
      const res = await runner.request('POST', '/v1/sandboxes', {});
      if (res.status !== 201) throw new Error(`native create: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      const out = await runner.request('POST', `/v1/sandboxes/${res.body.id}/exec`, { command: argv(['echo', 'hi']) });
      expectHi('native', out.body?.stdout, out.body?.exit_code);
      return res.body.id;
    },
    async run(id) {
      const out = await runner.request('POST', `/v1/sandboxes/${id}/exec`, { command: argv(['true']) });
      if (out.body?.exit_code !== 0) throw new Error(`native exec: ${JSON.stringify(out.body)}`);
    },
    destroy: (id) => runner.request('DELETE', `/v1/sandboxes/${id}`),
  };
}

/** One API's flows: `create` makes a sandbox and runs `echo hi` in it; `run` is one `true`; `destroy`. */
function apis(runner) {
  const base = `http://127.0.0.1:${runner.port}`;
  const e2bOpts = { apiKey: runner.token, apiUrl: `${base}/e2b`, sandboxUrl: `${base}/e2b`, timeoutMs: 300_000 };
  const daytona = new Daytona({ apiUrl: `${base}/daytona/api`, apiKey: runner.token, target: 'local' });
  return {
    // Native baselines run the argv each SDK causes, so the difference is the compat layer alone:
    // the E2B SDK sends `/bin/bash -l -c CMD`, Daytona's route wraps CMD in `sh -c` (see compat/daytona/process.ts).
    native: nativeFlow(runner, (cmd) => cmd),
    native_e2b_argv: nativeFlow(runner, (cmd) => ['/bin/bash', '-l', '-c', cmd.join(' ')]),
    native_daytona_argv: nativeFlow(runner, (cmd) => ['/bin/sh', '-c', 'exec /bin/sh -c "$1" 2>&1', 'sh', cmd.join(' ')]),
    e2b: {
      async create() {
        const sbx = await Sandbox.create('base', e2bOpts);
        const r = await sbx.commands.run('echo hi');
        expectHi('e2b', r.stdout, r.exitCode);
        return sbx;
      },
      async run(sbx) {
        const r = await sbx.commands.run('true');
        if (r.exitCode !== 0) throw new Error(`e2b run: exit ${r.exitCode}`);
      },
      destroy: (sbx) => sbx.kill(),
    },
    daytona: {
      async create() {
        const sbx = await daytona.create();
        const r = await sbx.process.executeCommand('echo hi');
        expectHi('daytona', r.result.endsWith('\n') ? r.result : `${r.result}\n`, r.exitCode);
        return sbx;
      },
      async run(sbx) {
        const r = await sbx.process.executeCommand('true');
        if (r.exitCode !== 0) throw new Error(`daytona run: exit ${r.exitCode}`);
      },
      destroy: (sbx) => daytona.delete(sbx),
    },
  };
}

async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

async function benchDriver(driver) {
  const runner = await startRunner({ drivers: [driver], images_dir: IMAGES_DIR, pool: { size: 2 } });
  try {
    const flows = apis(runner);
    const out = {};
    for (const [name, api] of Object.entries(flows)) {
      progress(`${driver} ${name}: ${CREATES} creates, then ${ROUND_TRIPS} round trips`);
      const creates = [];
      await api.destroy((await api.create()));  // warm-up: the pool's class exists from here on
      let live;
      for (let i = 0; i < CREATES; i++) {
        await sleep(GAP_MS);
        const { ms, value } = await timed(() => api.create());
        creates.push(ms);
        if (live) await api.destroy(live);
        live = value;
      }
      for (let i = 0; i < 10; i++) await api.run(live);
      const rtt = [];
      for (let i = 0; i < ROUND_TRIPS; i++) rtt.push((await timed(() => api.run(live))).ms);
      await api.destroy(live);
      out[name] = { create_first_ms: summarize(creates), round_trip_ms: summarize(rtt) };
    }
    return out;
  } finally {
    await runner.close();
  }
}

async function main() {
  const loadBefore = os.loadavg();
  const figures = {};
  const baseline = {};
  const ratios = {};
  const met = {};
  for (const driver of DRIVERS) {
    const r = await benchDriver(driver);
    figures[driver] = { e2b: r.e2b, daytona: r.daytona };
    baseline[driver] = { native: r.native, native_e2b_argv: r.native_e2b_argv, native_daytona_argv: r.native_daytona_argv };
    const adds = (sdk) => round(r[sdk].round_trip_ms.median - r[`native_${sdk}_argv`].round_trip_ms.median, 2);
    ratios[driver] = {
      e2b_round_trip_adds_ms: adds('e2b'),
      daytona_round_trip_adds_ms: adds('daytona'),
      e2b_round_trip_vs_native: round(r.e2b.round_trip_ms.median / r.native_e2b_argv.round_trip_ms.median, 2),
      daytona_round_trip_vs_native: round(r.daytona.round_trip_ms.median / r.native_daytona_argv.round_trip_ms.median, 2),
    };
    met[driver] = {
      e2b_compat_adds_ms: adds('e2b') <= TARGETS.compat_adds_ms_max,
      daytona_compat_adds_ms: adds('daytona') <= TARGETS.compat_adds_ms_max,
      ...(driver === 'bwrap' ? {} : { e2b_create_first_ms: r.e2b.create_first_ms.median <= TARGETS.create_first_ms_max }),
    };
  }
  console.log(
    JSON.stringify({
      bench: 'sdk',
      figures,
      baseline,
      ratios,
      targets: TARGETS,
      met,
      config: {
        drivers: DRIVERS,
        creates: CREATES,
        round_trips: ROUND_TRIPS,
        create_gap_ms: GAP_MS,
        pool_size: 2,
        cpu_count: os.cpus().length,
        loadavg_before: loadBefore.map((x) => round(x, 2)),
        loadavg_after: os.loadavg().map((x) => round(x, 2)),
        node: process.version,
        clients: 'e2b and @daytonaio/sdk from node_modules; native: node:http keepAlive; all in the runner process',
      },
    }),
  );
}

main().catch((err) => {
  console.error(`[bench sdk] FAILED: ${err?.stack ?? err}`);
  process.exitCode = 1;
});
