import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CAPS } from '../src/sandbox/docker/container-spec.js';
import type { SandboxDriver } from '../src/sandbox/driver.js';
import {
  closeRunner, docker, type DockerDriverName, dockerMissing, expectDriverHealthy, imageExists, jobHostname, pollUntil,
  removeRunnerContainers, runnerContainers,
} from './helpers/docker.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { type Api, type Job, jobEvents, removeRunnerState, sleep, submitJob, waitForJob } from './helpers/sandbox.js';

// Results from containers cannot be forged, and containers share no per-uid
// kernel limits: the docker (runc) and gvisor (runsc) drivers through a real
// runner and the machine's Docker Engine. Every container's PID 1 is the agent
// (docs/agent-protocol.md), whatever the image: the job's end, exit status and
// output come over the agent's channel, which the job can neither read nor write.
const MB = 1024 * 1024;
const PYTHON = 'paddock/python:latest';
/** An image Paddock did not build: the base rootfs re-imported without Paddock's labels. */
const FOREIGN = 'paddock-test/foreign:latest';
/** This file's container uids, apart from other test files' runners. */
const UIDS = { uid_range_start: 230_000, uid_range_size: 500 };
const ended = (j: Job) => ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(j.state);

const missing = (await dockerMissing()) ?? ((await imageExists(PYTHON)) ? undefined : `${PYTHON} is not built (paddock image build python)`);
const skip = !!missing && process.env.CI !== 'true';

/**
 * What the job can do to the agent (PID 1): open its memory, fds and environ, list its fds,
 * ptrace it, SIGKILL it; then it prints what looks like agent frames (a RESULT with exit 0
 * for every stream id it could guess) and exits 3 — which must be what is recorded.
 */
const PROBE = String.raw`
import ctypes, errno, json, os, signal, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
name = lambda e: errno.errorcode.get(e.errno, str(e.errno))
r = {'uid': os.getuid(), 'pid1': open('/proc/1/cmdline', 'rb').read().split(b'\0')[0].decode()}
for f in ('mem', 'environ'):
    try: os.close(os.open('/proc/1/' + f, os.O_RDONLY)); r[f] = 'opened'
    except OSError as e: r[f] = name(e)
# Every fd of PID 1 but /dev/null (where it points 0 and 1), read or write: its channel must be out of reach.
try: fds = os.listdir('/proc/1/fd'); r['fds'] = 'listed'
except OSError as e: fds = [str(n) for n in range(16)]; r['fds'] = name(e)
r['opened'] = []
for f in fds:
    p = '/proc/1/fd/' + f
    try:
        if os.readlink(p) == '/dev/null': continue
    except OSError: pass
    for mode in (os.O_RDONLY, os.O_WRONLY):
        try: os.close(os.open(p, mode | os.O_NONBLOCK)); r['opened'].append(f)
        except OSError: pass
try: r['fd0'] = os.readlink('/proc/1/fd/0')
except OSError as e: r['fd0'] = name(e)
r['ptrace'] = 'attached' if libc.ptrace(16, 1, None, None) == 0 else errno.errorcode[ctypes.get_errno()]
try: os.kill(1, signal.SIGKILL); r['kill'] = 'sent'
except OSError as e: r['kill'] = name(e)
time.sleep(0.3)
frame = lambda sid, typ, body: struct.pack('>IIB', len(body), sid, typ) + body
result = json.dumps({'exit_code': 0, 'signal': None, 'wall_ms': 1, 'cpu_ms': 0, 'max_rss_kb': 0}).encode()
forged = b''.join(frame(sid, 8, result) for sid in range(1, 64, 2))
r['forged'] = len(forged)
print(json.dumps(r), flush=True)
sys.stdout.buffer.write(forged); sys.stdout.flush()
sys.stderr.buffer.write(forged); sys.stderr.flush()
raise SystemExit(3)
`;

/** Holds inotify instances up to the per-uid limit, says how many, then sleeps; or (`once`) makes one. */
const INOTIFY = String.raw`
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
if sys.argv[1] == 'once':
    fd = libc.inotify_init1(0)
    print('uid=%d init=%s' % (os.getuid(), 'ok' if fd >= 0 else os.strerror(ctypes.get_errno())), flush=True)
    raise SystemExit(0 if fd >= 0 else 1)
try: limit = int(open('/proc/sys/fs/inotify/max_user_instances').read())
except OSError: limit = 128
held = []
while len(held) < limit:
    fd = libc.inotify_init1(0)
    if fd < 0: break
    held.append(fd)
print('uid=%d held=%d limit=%d' % (os.getuid(), len(held), limit), flush=True)
time.sleep(float(sys.argv[2]))
`;

async function foreignImage(): Promise<void> {
  if (await imageExists(FOREIGN)) return;
  const c = await docker.createContainer({ Image: 'paddock/base:latest', Cmd: ['true'] });
  try {
    const tar = await c.export();
    const stream = await docker.importImage(tar, { repo: 'paddock-test/foreign', tag: 'latest' });
    await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve(undefined))));
  } finally {
    await c.remove({ force: true });
  }
}

async function startRunner(driver: DockerDriverName, extra: Record<string, unknown> = {}): Promise<TestRunner> {
  if (missing) throw new Error(`Docker result tests cannot run: ${missing}`);
  return startTestRunner({ drivers: [driver], max_concurrent_jobs: 4, docker: UIDS, ...extra });
}
async function stopRunner(runner: TestRunner | undefined): Promise<void> {
  if (!runner) return;
  try {
    await closeRunner(runner, 60_000);
  } finally {
    await removeRunnerContainers(runner.dataDir);
    removeRunnerState(runner.dataDir);
  }
}

/** Its stored result and every read of it still answer: the single job and the list page that holds it. */
async function expectReadable(api: Api, job: Job): Promise<void> {
  const one = await api('GET', `/v1/jobs/${job.id}`);
  expect(one.status, JSON.stringify(one.body)).toBe(200);
  const list = await api('GET', '/v1/jobs?limit=100');
  expect(list.status, JSON.stringify(list.body)).toBe(200);
  expect(list.body.jobs.map((j: Job) => j.id)).toContain(job.id);
}

describe.skipIf(skip).each(['docker', 'gvisor'] as DockerDriverName[])('%s driver: results a job cannot forge', (driver) => {
  let r: TestRunner;
  let api: Api;
  const run = (spec: Record<string, unknown>, wait = true) => submitJob(api, { driver, ...spec }, wait);
  beforeAll(async () => {
    await foreignImage();
    r = await startRunner(driver);
    api = r.api;
  }, 120_000);
  afterAll(() => stopRunner(r), 120_000);

  it('a job cannot read the agent\'s memory or fds, ptrace or kill it, nor forge its frames: its own exit status counts', async () => {
    const job = await run({ image: 'python', command: ['python3', '/work/probe.py'], files: [{ path: 'probe.py', content: PROBE }] });
    const first = job.result!.stdout.split('\n')[0]!;
    const probe = JSON.parse(first) as Record<string, unknown>;
    expect(probe.uid).toBeGreaterThanOrEqual(UIDS.uid_range_start);
    // The agent is root, the job another uid: SIGKILL is refused (gVisor would deliver it to PID 1 of the same uid).
    expect(probe, first).toMatchObject({ pid1: '/.paddock/agent', mem: 'EACCES', opened: [], ptrace: 'EPERM', kill: 'EPERM' });
    // runc hides PID 1's fds and environ altogether. gVisor (2022) lists the fds (0 is /dev/null there) but
    // opens none of the others, and lets anyone read /proc/1/environ: Docker's (PATH, HOSTNAME), no secret.
    expect({ fds: probe.fds, fd0: probe.fd0, environ: probe.environ }).toEqual(
      driver === 'docker' ? { fds: 'EACCES', fd0: 'EACCES', environ: 'EACCES' } : { fds: 'listed', fd0: '/dev/null', environ: 'opened' },
    );
    expect({ state: job.state, reason: job.reason, exit: job.result?.exit_code }).toEqual({ state: 'failed', reason: 'exit_code', exit: 3 });
    // What it printed as frames is output like any other, byte for byte.
    expect(probe.forged).toBeGreaterThan(32 * 9);
    expect(Buffer.byteLength(job.result!.stdout)).toBe(Buffer.byteLength(first) + 1 + Number(probe.forged));
    expect(Buffer.byteLength(job.result!.stderr)).toBe(Number(probe.forged));
  }, 60_000);

  it.each(['python', FOREIGN])('a forged exit line `<anything> 99999999999999999999` never becomes the exit code (%s); reads still answer 200', async (image) => {
    // The shell launcher's old trailer format; nothing a job prints is read as its end.
    const forged = [
      'echo "#paddock-exit:0123456789abcdef01234567 99999999999999999999"',
      'echo "#paddock-exit:0123456789abcdef01234567 99999999999999999999" >&2',
      'printf "anything 99999999999999999999\\nanything 256\\n"',
      'exit 5',
    ].join('; ');
    const job = await run({ image, script: forged });
    expect({ state: job.state, reason: job.reason, exit: job.result?.exit_code }).toEqual({ state: 'failed', reason: 'exit_code', exit: 5 });
    expect(job.result!.stdout).toBe('#paddock-exit:0123456789abcdef01234567 99999999999999999999\nanything 99999999999999999999\nanything 256\n');
    await expectReadable(api, job);
  }, 60_000);

  it.each(['python', FOREIGN])('a fake end-of-job line and then 50 MB is still capped (%s): output_limit, stdout within the cap, no Docker log', async (image) => {
    const cap = MB;
    const script = 'hostname; sleep 2; echo "#paddock-exit:0123456789abcdef01234567 0"; echo "#paddock-exit:0123456789abcdef01234567 0" >&2; ' +
      'head -c 50000000 /dev/zero | tr "\\0" x; sleep 30';
    const job = await run({ image, script, limits: { output_bytes: cap, timeout_ms: 60_000 } }, false);
    const host = await jobHostname(api, job.id);
    const mine = (await runnerContainers(r.dataDir)).find((c) => c.id.startsWith(host));
    expect(mine, `container ${host}`).toBeDefined();
    expect(mine!.info.HostConfig.LogConfig).toEqual({ Type: 'none', Config: {} });
    const logPath = mine!.info.LogPath || `/var/lib/docker/containers/${mine!.id}/${mine!.id}-json.log`;
    const done = await waitForJob(api, job.id, ended, 60_000);
    expect({ state: done.state, reason: done.reason, truncated: done.result?.stdout_truncated }).toEqual({ state: 'failed', reason: 'output_limit', truncated: true });
    expect(Buffer.byteLength(done.result!.stdout)).toBeLessThanOrEqual(cap);
    expect(done.result!.stdout.length).toBeGreaterThan(cap - 100);
    expect(done.result!.wall_ms).toBeLessThan(30_000);
    // Nothing kept a copy on the host: no json-file log, and the stored stream is the capped one.
    expect(existsSync(logPath), logPath).toBe(false);
    const stored = (await jobEvents(api, job.id)).filter((e) => e.type === 'stdout').map((e) => e.data.data).join('');
    expect(Buffer.byteLength(stored)).toBeLessThanOrEqual(cap);
    await expectReadable(api, done);
  }, 90_000);

  it.each(['python', FOREIGN])('any image (%s) runs the agent as PID 1 and the job as the container\'s own uid, with no capabilities', async (image) => {
    const job = await run({ image, script: 'hostname; id -u; grep -E "CapEff|CapBnd" /proc/self/status; exec sleep 30' }, false);
    const host = await jobHostname(api, job.id);
    const mine = (await runnerContainers(r.dataDir)).find((c) => c.id.startsWith(host))!;
    const uid = Number(/uid=(\d+)/.exec(mine.info.HostConfig.Tmpfs?.['/work'] ?? '')?.[1]);
    expect(uid).toBeGreaterThanOrEqual(UIDS.uid_range_start);
    expect({ entrypoint: mine.info.Config.Entrypoint, cmd: mine.info.Config.Cmd, user: mine.info.Config.User, init: mine.info.HostConfig.Init, capAdd: mine.info.HostConfig.CapAdd })
      .toEqual({ entrypoint: ['/.paddock/agent'], cmd: [`--run-as=${uid}`], user: '0:0', init: false, capAdd: AGENT_CAPS });
    expect(mine.info.Mounts.map((m) => [m.Destination, m.RW])).toEqual([['/.paddock/agent', false]]);
    expect((await api('POST', `/v1/jobs/${job.id}/cancel`)).status).toBe(200);
    const done = await waitForJob(api, job.id, ended);
    expect(done.result?.stdout).toMatch(new RegExp(`^${host}\\n${uid}\\nCapEff:\\t0{16}\\nCapBnd:\\t0{16}\\n$`));
  }, 60_000);

  it('each container has its own uid: a job holding every inotify instance its uid may have does not starve another', async () => {
    const files = [{ path: 'inotify.py', content: INOTIFY }];
    const holder = await run({ image: 'python', command: ['python3', '/work/inotify.py', 'hold', '15'], files }, false);
    const held = await pollUntil(
      async () => (await jobEvents(api, holder.id)).filter((e) => e.type === 'stdout').map((e) => e.data.data).join(''),
      (out) => out.includes('held='),
      30_000,
      'inotify holder',
    );
    const m = /uid=(\d+) held=(\d+) limit=(\d+)/.exec(held)!;
    expect(Number(m[2])).toBe(Number(m[3])); // it holds all its uid may have
    const other = await run({ image: 'python', command: ['python3', '/work/inotify.py', 'once'], files });
    expect(other.state, other.result?.stdout + other.result!.stderr).toBe('succeeded');
    const otherUid = /uid=(\d+) init=ok/.exec(other.result!.stdout)?.[1];
    expect(otherUid).toBeDefined();
    expect(otherUid).not.toBe(m[1]);
    expect((await getState(api, holder.id))).toBe('running'); // they overlapped
    await api('POST', `/v1/jobs/${holder.id}/cancel`);
    await waitForJob(api, holder.id, ended);
  }, 90_000);

  it('limits.cpus 0.5 holds two busy processes to about half a core (NanoCpus)', async () => {
    const script = 'hostname; for i in 1 2; do timeout 4 sh -c "while :; do :; done" & done; wait';
    const job = await run({ script, limits: { cpus: 0.5, timeout_ms: 30_000 } }, false);
    const host = await jobHostname(api, job.id);
    const mine = (await runnerContainers(r.dataDir)).find((c) => c.id.startsWith(host));
    expect(mine?.info.HostConfig.NanoCpus).toBe(5e8);
    const done = await waitForJob(api, job.id, ended, 30_000);
    expect(done.state, JSON.stringify(done.result)).toBe('succeeded');
    const cores = done.result!.cpu_ms! / done.result!.wall_ms;
    // Two unthrottled burners would take up to 2 cores; under other load less, never more than the quota.
    expect(cores, `cpu_ms ${done.result!.cpu_ms} over wall_ms ${done.result!.wall_ms}`).toBeLessThan(0.65);
    expect(cores).toBeGreaterThan(0.2);
  }, 60_000);

  it('runs a 300 KB script handed over as /tmp/.paddock/script (past the argv limit)', async () => {
    const d = r.rt.drivers.get(driver) as SandboxDriver;
    const lines = Array.from({ length: 15_000 }, (_, i) => `v${i}=${'y'.repeat(14)}`);
    const script = `${lines.join('\n')}\necho "$(wc -c < /tmp/.paddock/script) $v14999"; touch /work/out\n`;
    expect(script.length).toBeGreaterThan(300_000);
    const sandbox = await d.create({
      id: `big-script-${Date.now()}`,
      network: 'none',
      limits: r.rt.config.limits.default,
      files: [{ path: '/tmp/.paddock/script', content: Buffer.from(script), mode: 0o644 }, { path: 'in.txt', content: Buffer.from('x') }],
    });
    try {
      const res = await sandbox.exec({ argv: ['/bin/sh', '/tmp/.paddock/script'], cwd: '/work', env: { PATH: '/usr/bin:/bin' } }, () => undefined, AbortSignal.timeout(30_000));
      expect({ exit: res.exitCode, out: res.stdout, err: res.stderr }).toEqual({ exit: 0, out: `${script.length} ${'y'.repeat(14)}\n`, err: '' });
    } finally {
      await sandbox.destroy();
    }
  }, 60_000);

  it('runs a 300 KB script job through the API (the command kind hands it over as a file)', async () => {
    const lines = Array.from({ length: 15_000 }, (_, i) => `v${i}=${'z'.repeat(14)}`);
    const script = `${lines.join('\n')}\necho "$v0 $v14999 $(wc -c < /tmp/.paddock/script)"\n`;
    const job = await run({ script });
    expect({ state: job.state, out: job.result?.stdout, err: job.result?.stderr }).toEqual({
      state: 'succeeded',
      out: `${'z'.repeat(14)} ${'z'.repeat(14)} ${Buffer.byteLength(script)}\n`,
      err: '',
    });
  }, 60_000);

  it('a container that cannot start on the job\'s own limits is the job\'s failure (limit_too_small), not the driver\'s', async () => {
    // Below the driver's minimum the API refuses the job outright, naming it.
    const refused = await api('POST', '/v1/jobs', { kind: 'command', driver, command: ['true'], limits: { pids: 1 } });
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 400, code: 'limit_too_small' });
    // Straight through the driver, past that check: the failure names the job's limits.
    const d = r.rt.drivers.get(driver) as SandboxDriver;
    expect(d.minLimits?.pids).toBeGreaterThan(1);
    // The agent's threads (and gVisor's own) have room on top of `pids` (container-spec.ts), so a tiny
    // pids still starts: only the fd limit stops a container short on them.
    for (const limits of [{ open_files: 2 }]) {
      const err = await (async () => {
        const sandbox = await d.create({ id: `small-${Date.now()}`, network: 'none', files: [], limits: { ...r.rt.config.limits.default, ...limits } });
        try {
          await sandbox.exec({ argv: ['true'], cwd: '/work', env: {} }, () => undefined, AbortSignal.timeout(20_000));
        } finally {
          await sandbox.destroy();
        }
      })().then(() => undefined, (e: { code?: string; message?: string }) => e);
      expect({ code: err?.code }, `${JSON.stringify(limits)}: ${err?.message}`).toEqual({ code: 'limit_too_small' });
      expect(err!.message).toMatch(new RegExp(`could not start with this job's limits \\(${Object.keys(limits)[0]} 2\\)`));
    }
    // The smallest limits the driver claims to start with do start a job.
    const smallest = await run({ command: ['echo', 'ok'], limits: d.minLimits });
    expect({ state: smallest.state, out: smallest.result?.stdout }, JSON.stringify(smallest)).toEqual({ state: 'succeeded', out: 'ok\n' });
    await expectDriverHealthy(api, driver);
  }, 90_000);
});

const getState = async (api: Api, id: string) => (await api('GET', `/v1/jobs/${id}`)).body.state as string;

describe.skipIf(skip)('container uids', () => {
  it('are taken when a container is created (pool items too) and given back when it is removed', async () => {
    const r = await startRunner('docker', { pool: { size: 2, max_classes: 4, idle_ms: 600_000 } });
    try {
      const pool = await pollUntil(() => runnerContainers(r.dataDir, { pool: true }), (l) => l.length === 2, 60_000, 'pool filled');
      const uidOf = (c: { info: { HostConfig: { Tmpfs?: Record<string, string> } } }) => /uid=(\d+)/.exec(c.info.HostConfig.Tmpfs?.['/work'] ?? '')?.[1];
      const poolUids = pool.map(uidOf);
      expect(new Set(poolUids).size).toBe(2);
      const jobs = await Promise.all([1, 2, 3].map(() => submitJob(r.api, { driver: 'docker', script: 'id -u; sleep 1' })));
      const jobUids = jobs.map((j) => j.result!.stdout.trim());
      expect(new Set(jobUids).size, jobUids.join(' ')).toBe(3);
      for (const u of jobUids) expect(Number(u)).toBeGreaterThanOrEqual(UIDS.uid_range_start);
      await sleep(500);
      // Nothing outlives its container: once everything is removed, no uid is held.
      await closeRunner(r);
      expect(await runnerContainers(r.dataDir)).toEqual([]);
      const { sharedUidRange } = await import('../src/sandbox/docker/uids.js');
      expect(sharedUidRange(UIDS.uid_range_start, UIDS.uid_range_size).inUse).toBe(0);
    } finally {
      await removeRunnerContainers(r.dataDir);
      removeRunnerState(r.dataDir);
    }
  }, 120_000);
});

