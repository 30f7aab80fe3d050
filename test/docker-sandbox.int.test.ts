import net from 'node:net';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CAPS, containerPidsLimit } from '../src/sandbox/docker/container-spec.js';
import { LABELS, runnerId } from '../src/sandbox/docker/labels.js';
import {
  closeRunner, docker, type DockerDriverName, dockerMissing, expectDriverHealthy, imageExists, jobHostname,
  pollUntil, removeRunnerContainers, RUNTIME, runnerContainers,
} from './helpers/docker.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { type Api, hostUser, type Job, removeRunnerState, sleep, submitJob, waitForJob } from './helpers/sandbox.js';

// The docker (runc) and gvisor (runsc) drivers through a real runner and the
// machine's Docker Engine. Every hostile job is followed by a health check and
// an ordinary job on the same driver. Note: this Debian runsc answers statx with
// EINVAL, so `ls` (even without -l), `stat` and `ls -ld` fail inside gVisor:
// the scripts below use `test`, `cat`, `find` and globs instead.
const UID = 61210;
/** This file's container uids (other test files use other ranges). */
const CONTAINER_UIDS = { uid_range_start: 210_000, uid_range_size: 500 };
const MB = 1024 * 1024;
const ended = (j: Job) => ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(j.state);
const missing = await dockerMissing();
const skip = !!missing && process.env.CI !== 'true';

/** The runner's own egress bridge network (one per runner, firewalled: see test/egress.int.test.ts). */
const egressNetworks = async (dataDir: string) =>
  (await docker.listNetworks()).filter((n) => n.Name === `paddock-egress-${runnerId(dataDir)}`);

async function startRunner(drivers: string[], extra: Record<string, unknown> = {}): Promise<TestRunner> {
  if (missing) throw new Error(`Docker driver tests cannot run: ${missing}`);
  return startTestRunner({ drivers, max_concurrent_jobs: 3, ...hostUser(UID), docker: CONTAINER_UIDS, ...extra });
}
async function stopRunner(runner: TestRunner | undefined, ms = 60_000): Promise<void> {
  if (!runner) return;
  try {
    await closeRunner(runner, ms);
  } finally {
    await removeRunnerContainers(runner.dataDir);
    removeRunnerState(runner.dataDir);
  }
}

describe.skipIf(skip)('job API with gvisor, docker and bwrap enabled', () => {
  let r: TestRunner;
  beforeAll(async () => (r = await startRunner(['gvisor', 'docker', 'bwrap'])), 120_000);
  afterAll(async () => {
    await stopRunner(r);
    // The runner removes its egress network when it stops; this is hygiene after a failed close.
    for (const n of r ? await egressNetworks(r.dataDir) : []) {
      if (n.Labels?.[LABELS.runner] === runnerId(r.dataDir)) await docker.getNetwork(n.Id).remove().catch(() => undefined);
    }
  }, 120_000);

  it.each(['docker', 'gvisor'])('unknown image on %s: 422 image_not_found listing the images there are', async (driver) => {
    const res = await r.api('POST', '/v1/jobs', { kind: 'command', driver, image: 'no-such-image', command: ['true'] });
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 422, code: 'image_not_found' });
    expect(res.body.detail).toMatch(/no-such-image/);
    expect(res.body.available).toContain('base');
    if (await imageExists('paddock/python:latest')) expect(res.body.available).toContain('python');
  });

  it('unknown driver: 422 driver_unavailable naming the known drivers', async () => {
    const res = await r.api('POST', '/v1/jobs', { kind: 'command', driver: 'firecracker', command: ['true'] });
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 422, code: 'driver_unavailable' });
    expect([...res.body.known].sort()).toEqual(['bwrap', 'docker', 'gvisor']);
  });

  it('network egress on gvisor: 422 driver_unavailable', async () => {
    const res = await r.api('POST', '/v1/jobs', { kind: 'command', driver: 'gvisor', network: 'egress', command: ['true'] });
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 422, code: 'driver_unavailable' });
    expect(res.body.detail).toMatch(/egress/);
  });

  it('driver auto picks gvisor, and docker for a job that needs egress', async () => {
    const strongest = await submitJob(r.api, { command: ['echo', 'hi'] });
    expect({ driver: (strongest as any).driver, state: strongest.state }).toEqual({ driver: 'gvisor', state: 'succeeded' });
    const egress = await submitJob(r.api, { network: 'egress', command: ['true'] });
    expect((egress as any).driver).toBe('docker');
    // The job and the pool refill for its key race to create the bridge: one must come of it.
    expect((await egressNetworks(r.dataDir)).map((n) => n.Id.slice(0, 12))).toHaveLength(1);
  }, 120_000);

  it("gvisor: a loop of short pipelines runs under the default pids limit (gVisor's own threads are not the job's)", async () => {
    // 44 sentry/gofer host threads idle, 116 under this loop: with them counted as the job's, the sandbox died.
    const job = await submitJob(r.api, {
      driver: 'gvisor',
      script: "i=0; while [ $i -lt 40 ]; do head -c 1000 /dev/zero | tr '\\0' a; i=$((i+1)); done",
    });
    expect({ state: job.state, bytes: (job as any).result?.stdout?.length }).toEqual({ state: 'succeeded', bytes: 40_000 });
  }, 120_000);
});

describe.skipIf(skip).each(['docker', 'gvisor'] as DockerDriverName[])('%s driver', (driver) => {
  let r: TestRunner;
  let api: Api;
  const run = (spec: Record<string, unknown>, wait = true) => submitJob(api, { driver, ...spec }, wait);
  /** Runs a script that must succeed; returns its stdout. */
  const sh = async (script: string, spec: Record<string, unknown> = {}) => {
    const job = await run({ script, ...spec });
    expect(job.state, `${job.reason}: ${job.result?.stderr}`).toBe('succeeded');
    return job.result!.stdout;
  };
  beforeAll(async () => {
    r = await startRunner([driver]);
    api = r.api;
  }, 120_000);
  afterAll(() => stopRunner(r), 120_000);

  describe('faults are contained', () => {
    // gVisor's own threads count against pids (its driver's minimum is 80), so its bomb gets a little more room.
    const bombPids = driver === 'gvisor' ? 96 : 32;
    it(`a fork bomb at limits.pids ${bombPids} ends within its timeout`, async () => {
      // Its own runner: a job that never ends would hold a slot and the close of the shared one.
      const own = await startRunner([driver]);
      let passed = false;
      try {
        // Six, three at a time: under runsc whether such a job hangs is a race, so one try can miss it.
        const spec = { driver, command: ['bash', '-c', 'b(){ b|b& }; b; sleep 60'], limits: { pids: bombPids, timeout_ms: 5000 } };
        const jobs = await Promise.all(Array.from({ length: 6 }, () => submitJob(own.api, spec, false)));
        const done = await Promise.all(jobs.map((j) => waitForJob(own.api, j.id, ended, 40_000)));
        // Timed out, or failed because bash could not fork its `sleep`; never the sandbox dying under it.
        for (const j of done) expect({ state: ['timed_out', 'failed'].includes(j.state), driverError: j.reason === 'driver_error' }, JSON.stringify(j)).toEqual({ state: true, driverError: false });
        for (const j of done) expect(j.result?.wall_ms ?? 0).toBeLessThan(10_000);
        await expectDriverHealthy(own.api, driver);
        passed = true;
      } finally {
        await stopRunner(own, 20_000).catch((err) => {
          if (passed) throw err; // else the first failure is the one to see
        });
      }
    }, 120_000);

    it('a memory bomb at memory_mb 64 fails with memory_limit', async () => {
      const job = await run({ script: 'head -c 2G /dev/zero | tail', limits: { memory_mb: 64, timeout_ms: 30_000 } });
      expect({ state: job.state, reason: job.reason, limit: job.result?.limit }).toEqual({ state: 'failed', reason: 'memory_limit', limit: 'memory' });
      expect(job.result!.max_rss_kb).toBeLessThanOrEqual(65 * 1024);
      await expectDriverHealthy(api, driver);
    }, 60_000);

    it.each(['/tmp', '/work'])('filling %s stops at disk_mb 8 with "No space left"', async (dir) => {
      const script = `dd if=/dev/zero of=${dir}/a bs=1M count=100 2>/dev/null; dd if=/dev/zero of=${dir}/b bs=1M count=100; rc=$?
        echo "kb=$(du -sk ${dir} | cut -f1) size=$(df -k ${dir} | awk 'NR==2 {print $2}')"; exit $rc`;
      const job = await run({ script, limits: { disk_mb: 8 } });
      expect(job.state).toBe('failed');
      expect(job.result!.stderr).toContain('No space left on device');
      const m = /kb=(\d+) size=(\d+)/.exec(job.result!.stdout);
      expect(m, job.result!.stdout).not.toBeNull();
      expect(Number(m![2])).toBe(8192);
      expect(Number(m![1])).toBeLessThanOrEqual(8192);
      expect(Number(m![1])).toBeGreaterThan(4096);
      await expectDriverHealthy(api, driver);
    }, 60_000);

    it('an output flood (yes) is cut at output_bytes: output_limit', async () => {
      const job = await run({ command: ['yes'], limits: { output_bytes: 1000, timeout_ms: 30_000 } });
      expect({ state: job.state, reason: job.reason, truncated: job.result?.stdout_truncated }).toEqual({ state: 'failed', reason: 'output_limit', truncated: true });
      expect(job.result!.stdout).toBe('y\n'.repeat(500));
      await expectDriverHealthy(api, driver);
    }, 60_000);

    it('an endless loop times out at timeout_ms, and is stopped at cpu_ms long before its timeout', async () => {
      const timed = await run({ script: 'while :; do :; done', limits: { timeout_ms: 2000 } });
      expect({ state: timed.state, reason: timed.reason }).toEqual({ state: 'timed_out', reason: 'timeout' });
      expect(timed.result!.wall_ms).toBeLessThan(10_000);
      const cpu = await run({ script: 'while :; do :; done', limits: { cpu_ms: 1000, timeout_ms: 60_000 } });
      expect({ state: cpu.state, reason: cpu.reason, limit: cpu.result?.limit }).toEqual({ state: 'failed', reason: 'cpu_limit', limit: 'cpu' });
      expect(cpu.result!.cpu_ms).toBeGreaterThanOrEqual(900);
      expect(cpu.result!.wall_ms).toBeLessThan(20_000);
      // runc: RLIMIT_CPU (SIGXCPU) or the watchdog; gVisor's sentry owns the rlimit, the watchdog SIGKILLs.
      expect(['SIGXCPU', 'SIGKILL']).toContain(cpu.result!.signal);
      await expectDriverHealthy(api, driver);
    }, 90_000);
  });

  describe('inside the sandbox', () => {
    it('runs as its container\'s own uid from docker.uid_range_*, with no capabilities at all, and cannot mount', async () => {
      const out = await sh('id -u; id -g; id -G; grep -E "CapEff|CapBnd|CapPrm" /proc/self/status; mount -t tmpfs none /mnt 2>/dev/null; echo "mount=$?"');
      const m = /^(\d+)\n(\d+)\n(\d+)\nCapPrm:\t0{16}\nCapEff:\t0{16}\nCapBnd:\t0{16}\nmount=[1-9]\d*\n$/.exec(out);
      expect(m, out).not.toBeNull();
      const uid = Number(m![1]);
      expect(uid).toBeGreaterThanOrEqual(CONTAINER_UIDS.uid_range_start);
      expect(uid).toBeLessThan(CONTAINER_UIDS.uid_range_start + CONTAINER_UIDS.uid_range_size);
      expect([m![2], m![3]]).toEqual([m![1], m![1]]);
    });

    it('has only lo and cannot reach a listener on any host address', async () => {
      let connections = 0;
      const server = net.createServer((s) => (connections++, s.destroy()));
      await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
      const port = (server.address() as net.AddressInfo).port;
      const hostIps = Object.values(os.networkInterfaces()).flat().filter((i) => i && i.family === 'IPv4' && !i.internal).map((i) => i!.address);
      expect(hostIps.length).toBeGreaterThan(0);
      const targets = ['127.0.0.1', ...hostIps];
      try {
        await new Promise<void>((resolve, reject) => net.connect(port, '127.0.0.1', resolve).on('error', reject).end());
        await pollUntil(async () => connections, (n) => n === 1, 2000, 'host-side connection');
        const out = await sh(`tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; for a in ${targets.join(' ')}; do
          if timeout 5 bash -c "echo > /dev/tcp/$a/${port}" 2>/dev/null; then echo "connected $a"; else echo "blocked $a"; fi; done`);
        expect(out.trim().split('\n')).toEqual(['lo', ...targets.map((a) => `blocked ${a}`)]);
        await sleep(200);
        expect(connections).toBe(1);
      } finally {
        server.close();
      }
    }, 60_000);

    it('has no Docker socket and a read-only root; /work and /tmp are writable', async () => {
      const out = await sh(`for s in /var/run/docker.sock /run/docker.sock; do test -e $s && echo "visible $s"; done
        for f in /x /usr/x /etc/x /work/x /tmp/x; do touch $f 2>/dev/null && echo "wrote $f" || echo "denied $f"; done
        awk '$2 == "/" {print substr($4, 1, 3)}' /proc/mounts`);
      expect(out).toBe('denied /x\ndenied /usr/x\ndenied /etc/x\nwrote /work/x\nwrote /tmp/x\nro,\n');
    });

    it('gets its files (nested, absolute, binary), stdin, env and cwd', async () => {
      const files = [
        { path: 'a/b/c.txt', content: 'nested\n' },
        { path: '/work/bin/run.sh', content: '#!/bin/sh\necho ran\n', mode: '0755' },
        { path: 'data.bin', content: Buffer.from([0, 1, 2, 255]).toString('base64'), encoding: 'base64' },
      ];
      const script = 'pwd; cat /work/a/b/c.txt; od -An -tx1 /work/data.bin | tr -d " "; ' +
        'printf "%s|%s|" "$GREETING" "$TWO_LINES"; cat; echo; find /work -type f -perm -u+x; find /work -type f | sort';
      const out = await sh(script, { files, cwd: '/work/a/b', stdin: 'from stdin', env: { GREETING: "it's \"quoted\" $HOME", TWO_LINES: 'a\nb' } });
      expect(out).toBe(`/work/a/b\nnested\n000102ff\nit's "quoted" $HOME|a\nb|from stdin\n/work/bin/run.sh\n/work/a/b/c.txt\n/work/bin/run.sh\n/work/data.bin\n`);
    });

    it('can run an uploaded executable (mode 0755) and one it writes itself, in /work and /tmp', async () => {
      const files = [{ path: 'run.sh', content: '#!/bin/sh\necho "ran $1"\n', mode: '0755' }];
      const out = await sh('./run.sh work 2>&1; cp run.sh /tmp/t.sh && /tmp/t.sh tmp 2>&1; true', { files });
      expect(out).toBe('ran work\nran tmp\n');
    });

    it('two jobs running at once see neither each other\'s files nor processes', async () => {
      const script = (me: string) => `sleep 30${me} >/dev/null 2>&1 & touch /work/mark-${me} /tmp/mark-${me}; sleep 4
        echo /work/* /tmp/*; cat /proc/[0-9]*/cmdline | tr '\\0' ' '; kill $!`;
      const [a, b] = await Promise.all([run({ script: script('1') }), run({ script: script('2') })]);
      expect(Math.abs(Date.parse(a.started_at!) - Date.parse(b.started_at!))).toBeLessThan(3000); // they overlapped
      for (const [job, me, other] of [[a, '1', '2'], [b, '2', '1']] as const) {
        expect(job.state, job.result?.stderr).toBe('succeeded');
        expect(job.result!.stdout).toContain(`/work/mark-${me} /tmp/mark-${me}`);
        expect(job.result!.stdout).toContain(`sleep 30${me}`);
        expect(job.result!.stdout).not.toMatch(new RegExp(`mark-${other}|sleep 30${other}`));
      }
    }, 60_000);
  });

  it('labels every container and runs it unprivileged, with the job\'s limits', async () => {
    const job = await run({ script: 'hostname; exec sleep 60', limits: { memory_mb: 200, pids: 100 } }, false);
    const host = await jobHostname(api, job.id);
    const all = await runnerContainers(r.dataDir);
    const mine = all.find((c) => c.id.startsWith(host));
    expect(mine, `no container ${host} among ${all.map((c) => c.id.slice(0, 12))}`).toBeDefined();
    expect({ memory: mine!.info.HostConfig.Memory, pids: mine!.info.HostConfig.PidsLimit }).toEqual({
      memory: 200 * MB,
      // The agent's threads (and on gVisor its own host threads) share the container's pids cgroup: they get room on top.
      pids: containerPidsLimit(driver === 'gvisor' ? 'runsc' : 'runc', 100),
    });
    expect(all.length).toBeGreaterThanOrEqual(3); // the job's and the warm pool's
    for (const c of all) {
      expect(c.labels[LABELS.runner]).toBe(runnerId(r.dataDir));
      expect(c.labels[LABELS.host]).toBe(r.rt.config.host_id);
      expect(!!c.labels[LABELS.job] || !!c.labels[LABELS.pool], JSON.stringify(c.labels)).toBe(true);
      const hc = c.info.HostConfig;
      // The agent (PID 1) runs as root with its few capabilities; what it starts runs as the container's uid with none.
      const uid = /uid=(\d+)/.exec(hc.Tmpfs?.['/work'] ?? '')?.[1];
      expect({ user: c.info.Config.User, cmd: c.info.Config.Cmd, runtime: hc.Runtime, net: hc.NetworkMode, ro: hc.ReadonlyRootfs, capDrop: hc.CapDrop, capAdd: hc.CapAdd, sec: hc.SecurityOpt, log: hc.LogConfig?.Type })
        .toEqual({ user: '0:0', cmd: [`--run-as=${uid}`], runtime: RUNTIME[driver], net: 'none', ro: true, capDrop: ['ALL'], capAdd: AGENT_CAPS, sec: ['no-new-privileges'], log: 'none' });
      expect(hc.NanoCpus).toBe(1e9);
    }
    expect((await api('POST', `/v1/jobs/${job.id}/cancel`)).status).toBe(200);
    expect((await waitForJob(api, job.id, ended)).state).toBe('cancelled');
    await pollUntil(() => runnerContainers(r.dataDir), (l) => !l.some((c) => c.id.startsWith(host)), 15_000, 'job container removed');
  }, 60_000);

  describe('warm pool', () => {
    let p: TestRunner | undefined;
    const SIZE = 2;
    const poolIds = async () => (await runnerContainers(p!.dataDir, { pool: true })).map((c) => c.id);
    beforeAll(async () => (p = await startRunner([driver], { max_concurrent_jobs: 6 })), 120_000);
    afterAll(() => stopRunner(p), 120_000);

    // Ready once the pool holds them (their warm-up command done), not when Docker first lists them.
    const poolReady = async () => {
      const d = p!.rt.drivers.get(driver) as unknown as { poolReady(s: { limits: unknown; network: string }): Promise<number> };
      await pollUntil(() => d.poolReady({ limits: p!.rt.config.limits.default, network: 'none' }), (n) => n === SIZE, 60_000, 'pool ready');
    };

    it('fills to pool.size; each job takes a container that is then removed, and the pool refills', async () => {
      await poolReady();
      const before = await poolIds();
      const first = (await submitJob(p!.api, { driver, command: ['hostname'] })).result!.stdout.trim();
      const second = (await submitJob(p!.api, { driver, command: ['hostname'] })).result!.stdout.trim();
      expect(first).not.toBe(second);
      expect(before.some((id) => id.startsWith(first)), `${first} was not one of the pool's ${before}`).toBe(true);
      // Refilled with new containers: the two that served jobs are removed (off the jobs' path, so not at once).
      const used = (id: string) => id.startsWith(first) || id.startsWith(second);
      const after = await pollUntil(poolIds, (ids) => ids.length === SIZE && !ids.some(used), 60_000, 'pool refilled');
      expect(after.some(used)).toBe(false);
      const left = await runnerContainers(p!.dataDir);
      expect(left.some((c) => c.id.startsWith(first) || c.id.startsWith(second))).toBe(false);
    }, 120_000);

    it('never holds more than pool.size idle, even after a burst of 6 concurrent jobs', async () => {
      // The refill of the test before may still be warming up (gVisor: seconds): the burst starts on a ready pool.
      await poolReady();
      const samples: string[][] = [];
      let bursting = true;
      const sampler = (async () => {
        for (; bursting; await sleep(100)) samples.push(await poolIds());
      })();
      const jobs = await Promise.all(Array.from({ length: 6 }, () => submitJob(p!.api, { driver, script: 'hostname; sleep 1' })));
      await pollUntil(poolIds, (ids) => ids.length === SIZE, 60_000, 'pool refilled after the burst');
      await sleep(2000);
      bursting = false;
      await sampler;
      expect(jobs.map((j) => j.state)).toEqual(Array(6).fill('succeeded'));
      const served = jobs.map((j) => j.result!.stdout.trim());
      expect(new Set(served).size).toBe(6);
      // A pool container keeps its label while it runs a job: idle = labelled and not serving one.
      const idle = samples.map((ids) => ids.filter((id) => !served.some((h) => id.startsWith(h))).length);
      expect(Math.max(...idle)).toBeLessThanOrEqual(SIZE);
      expect(served.filter((h) => samples.flat().some((id) => id.startsWith(h))).length).toBeGreaterThanOrEqual(1);
    }, 120_000);

    it('jobs that differ only in timeout_ms (not a container setting) add no idle containers', async () => {
      for (const timeout_ms of [30_001, 30_002, 30_003]) {
        expect((await submitJob(p!.api, { driver, command: ['true'], limits: { timeout_ms } })).state).toBe('succeeded');
      }
      await sleep(5000); // let any refill finish
      const idle = await poolIds();
      expect(idle.length, `idle pool containers: ${idle.length}`).toBeLessThanOrEqual(SIZE);
    }, 120_000);

    it('is drained on close: no container of this runner is left', async () => {
      await closeRunner(p);
      const dataDir = p!.dataDir;
      p = undefined;
      const left = await runnerContainers(dataDir);
      await removeRunnerContainers(dataDir);
      removeRunnerState(dataDir);
      expect(left.map((c) => `${c.id.slice(0, 12)} ${JSON.stringify(c.labels)}`)).toEqual([]);
    }, 120_000);
  });
});
