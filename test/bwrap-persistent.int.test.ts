import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { BwrapDriver } from '../src/sandbox/bwrap/driver.js';
import type { BwrapSandbox } from '../src/sandbox/bwrap/sandbox.js';
import type { ExecRequest, ExecResult, SandboxSpec } from '../src/sandbox/driver.js';
import { cgroupGroup } from '../src/sandbox/runner-id.js';
import { hostUser, removeRunnerState, sleep } from './helpers/sandbox.js';

// Persistent bwrap sandboxes straight through the driver: one bwrap, its agent as PID 1, many
// commands; with the per-sandbox cgroup (as root) and without (rlimits and the agent's wait4).
const UID = 61250;
const ENV = { PATH: '/usr/bin:/bin' };

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Host pids whose environment holds `PADDOCK_SANDBOX=<marker>` (bwrap and the agent are given it), by name. */
function markedProcesses(marker: string): { pid: number; name: string }[] {
  const needle = `PADDOCK_SANDBOX=${marker}\0`;
  const found: { pid: number; name: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').includes(needle)) continue;
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (/^State:\s*Z/m.test(status)) continue;
      found.push({ pid: Number(entry), name: /^Name:\s*(.*)$/m.exec(status)![1]! });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function until<T>(probe: () => T | Promise<T>, ok: (v: T) => boolean, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await sleep(50);
  }
}

describe.each(['auto', 'off'] as const)('bwrap persistent sandboxes (cgroups %s)', (cgroups) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-bwrap-persist-'));
  const config = loadConfig({
    env: { PADDOCK_CONFIG: '' },
    flags: { data_dir: dataDir, log_level: 'silent', pool: { size: 0 }, storage: { reserve_mb: 0 }, sandbox: { ...hostUser(UID).sandbox, cgroups } },
  });
  const driver = new BwrapDriver(config);
  const made: BwrapSandbox[] = [];
  const create = async (spec: Partial<SandboxSpec> = {}) => {
    const s = (await driver.create({ id: `persist-${Date.now()}-${made.length}`, network: 'none', files: [], limits: config.limits.default, ...spec })) as BwrapSandbox;
    made.push(s);
    return s;
  };
  const run = (s: BwrapSandbox, script: string, extra: Partial<ExecRequest> = {}, signal = AbortSignal.timeout(30_000)): Promise<ExecResult> =>
    s.exec({ argv: ['/bin/sh', '-c', script], cwd: '/work', env: ENV, ...extra }, () => undefined, signal);
  const cgroupDirs = (marker: string) =>
    ['memory', 'pids', 'cpuacct', 'cpu', 'freezer'].map((c) => path.join('/sys/fs/cgroup', c, cgroupGroup(dataDir), marker)).filter((d) => existsSync(d));

  beforeAll(async () => {
    const found = await driver.detect();
    expect(found, found.reason).toMatchObject({ available: true });
    expect(driver.capabilities).toMatchObject({ persistent: true, pause: cgroups === 'auto' });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(made.map((s) => s.destroy()));
    await driver.close();
    removeRunnerState(dataDir);
  }, 60_000);

  it('runs many commands in one sandbox, keeping its files; the agent is PID 1', async () => {
    const s = await create({ files: [{ path: 'in.txt', content: Buffer.from('input\n') }] });
    const first = await run(s, 'cat in.txt; echo one > /work/state; cat /proc/1/cmdline | tr "\\0" " "; echo');
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^input\n\/\.paddock\/agent --limits=nofile=\d+,fsize=\d+,core=0 \n$/);
    for (let i = 0; i < 30; i++) {
      const r = await run(s, `echo $(cat /work/state) ${i}; exit ${i % 5}`);
      expect({ exit: r.exitCode, out: r.stdout, signal: r.signal }).toEqual({ exit: i % 5, out: `one ${i}\n`, signal: null });
    }
  }, 60_000);

  it('runs commands at once, each with its own output and exit status', async () => {
    const s = await create();
    const t0 = performance.now();
    const all = await Promise.all(Array.from({ length: 5 }, (_, i) => run(s, `sleep 1; echo out${i}; echo err${i} >&2; exit ${i + 1}`)));
    const wall = performance.now() - t0;
    expect(all.map((r) => [r.exitCode, r.stdout, r.stderr])).toEqual(Array.from({ length: 5 }, (_, i) => [i + 1, `out${i}\n`, `err${i}\n`]));
    expect(wall).toBeLessThan(4000); // five one-second sleeps overlapped
  }, 60_000);

  it('moves files in and out through the agent (1 MiB, binary), and lists them', async () => {
    const s = await create();
    const content = randomBytes(1 << 20);
    expect(await s.agent.writeFile('/work/data/blob.bin', content, { mkdirs: true, mode: 0o600 })).toEqual({ size: content.length });
    const r = await run(s, 'sha256sum /work/data/blob.bin | cut -d" " -f1; find /work/data -perm 0600 -type f; printf made-inside > /work/data/out.txt');
    expect(r.stdout).toBe(`${createHash('sha256').update(content).digest('hex')}\n/work/data/blob.bin\n`);
    expect((await readAll((await s.agent.readFile('/work/data/blob.bin')).stream)).equals(content)).toBe(true);
    expect((await readAll((await s.agent.readFile('/work/data/out.txt')).stream)).toString()).toBe('made-inside');
    const { entries } = await s.agent.list('/work/data');
    expect(entries.map((e) => [e.name, e.type, e.size]).sort()).toEqual([['blob.bin', 'file', 1 << 20], ['out.txt', 'file', 11]]);
  }, 60_000);

  it('reaches a TCP server started inside, on loopback, with network none', async () => {
    const s = await create();
    await run(s, 'echo served > /work/hello.txt');
    const server = run(s, 'exec python3 -m http.server 8080 --bind 127.0.0.1 --directory /work', {}, AbortSignal.timeout(60_000));
    const reply = await until(
      async () => {
        try {
          const sock = await s.agent.connect(8080);
          sock.end('GET /hello.txt HTTP/1.0\r\n\r\n');
          return (await readAll(sock)).toString();
        } catch (err) {
          return String(err);
        }
      },
      (text) => text.startsWith('HTTP/1.0 200'),
      20_000,
      'HTTP server inside',
    );
    expect(reply).toMatch(/\r\n\r\nserved\n$/);
    await expect(s.agent.connect(8081)).rejects.toMatchObject({ agentCode: 'refused' });
    await s.destroy();
    await expect(server).rejects.toMatchObject({ code: 'driver_error' });
  }, 60_000);

  it('keeps the agent out of reach: no /proc/1/mem, fd or environ, no ptrace, kill -9 1 does nothing', async () => {
    const s = await create();
    const probe = [
      'for f in /proc/1/mem /proc/1/fd/0 /proc/1/environ; do if cat $f > /dev/null 2>&1; then echo "$f open"; else echo "$f refused"; fi; done',
      'ls /proc/1/fd > /dev/null 2>&1 && echo "fd listed" || echo "fd refused"',
      `python3 -c 'import ctypes; libc = ctypes.CDLL(None, use_errno=True); r = libc.ptrace(16, 1, 0, 0); print("ptrace", r, ctypes.get_errno())'`,
      'kill -9 1; kill -TERM 1; kill -KILL -1; sleep 0.3; echo "still here"',
    ].join('; ');
    const r = await run(s, probe);
    expect(r.stdout).toBe(
      '/proc/1/mem refused\n/proc/1/fd/0 refused\n/proc/1/environ refused\nfd refused\nptrace -1 1\nstill here\n',
    );
    expect((await run(s, 'echo next')).stdout).toBe('next\n');
    expect(await Promise.race([s.died, sleep(100).then(() => 'alive')])).toBe('alive');
  }, 60_000);

  it('an abort kills the command, not the sandbox', async () => {
    const s = await create();
    const t0 = performance.now();
    const r = await run(s, 'sleep 30', {}, AbortSignal.timeout(500));
    expect(r).toMatchObject({ signal: 'SIGKILL', aborted: expect.any(String) });
    expect(performance.now() - t0).toBeLessThan(3000);
    expect((await run(s, 'echo alive')).stdout).toBe('alive\n');
  }, 60_000);

  it('a fork bomb stays within limits.pids and leaves the agent room: the sandbox lives on', async () => {
    const s = await create({ limits: { ...config.limits.default, pids: 32 } });
    const r = await run(s, 'b(){ b|b& }; b; sleep 60', {}, AbortSignal.timeout(2000));
    expect(r.aborted).toBeDefined();
    await expect(Promise.race([s.died, sleep(200).then(() => 'alive')])).resolves.toBe('alive');
    // The agent made threads while the bomb held every process the commands may have, and still starts commands.
    const after = await run(s, 'echo alive');
    expect(after.stdout).toBe('alive\n');
  }, 60_000);

  it.runIf(cgroups === 'auto')('pauses (exec refused with conflict, running commands frozen) and resumes', async () => {
    const s = await create();
    const ticks: string[] = [];
    const ticking = s.exec(
      { argv: ['/bin/sh', '-c', 'for i in $(seq 1 20); do echo $i; sleep 0.1; done'], cwd: '/work', env: ENV },
      (_stream, chunk) => ticks.push(...chunk.toString().split('\n').filter(Boolean)),
      AbortSignal.timeout(60_000),
    );
    await until(() => ticks.length, (n) => n >= 3, 10_000, 'ticks before pause');
    await s.pause();
    await sleep(200); // what was in flight arrives
    const frozenAt = ticks.length;
    await expect(run(s, 'true')).rejects.toMatchObject({ code: 'conflict' });
    await sleep(1000);
    expect(ticks.length).toBe(frozenAt);
    await s.resume();
    const done = await ticking;
    expect({ exit: done.exitCode, last: ticks.at(-1), count: ticks.length }).toEqual({ exit: 0, last: '20', count: 20 });
    expect(done.wallMs).toBeGreaterThan(3000); // 2 s of ticks plus the second it was frozen
    expect((await run(s, 'echo after')).stdout).toBe('after\n');
    // Destroying a paused sandbox leaves nothing either (frozen tasks are thawed to die).
    await s.pause();
    await s.destroy();
    await until(() => markedProcesses(s.marker), (l) => l.length === 0, 5000, 'processes of the paused sandbox');
  }, 60_000);

  it.runIf(cgroups === 'off')('cannot pause without the cgroup freezer: driver_unavailable', async () => {
    const s = await create();
    await expect(s.pause()).rejects.toMatchObject({ code: 'driver_unavailable' });
    await expect(s.resume()).rejects.toMatchObject({ code: 'driver_unavailable' });
    expect((await run(s, 'echo still')).stdout).toBe('still\n');
  }, 60_000);

  it('the agent killed from outside: the running command fails as a driver failure, `died` says why, nothing hangs', async () => {
    const s = await create();
    const running = run(s, 'sleep 30', {}, AbortSignal.timeout(60_000));
    await sleep(300);
    const agent = markedProcesses(s.marker).find((p) => p.name === 'agent');
    expect(agent, JSON.stringify(markedProcesses(s.marker))).toBeDefined();
    const t0 = performance.now();
    process.kill(agent!.pid, 'SIGKILL');
    await expect(running).rejects.toMatchObject({ code: 'driver_error', message: expect.stringMatching(/died under the command: .*signal 9 \(from outside Paddock\)/) });
    expect(await s.died).toMatch(/the agent was killed by signal 9 \(from outside Paddock\)/);
    expect(performance.now() - t0).toBeLessThan(3000);
    await expect(run(s, 'true')).rejects.toMatchObject({ code: 'driver_error', message: expect.stringMatching(/is dead/) });
    await s.destroy();
    await s.destroy(); // idempotent
    await until(() => markedProcesses(s.marker), (l) => l.length === 0, 5000, 'processes of the killed sandbox');
    await until(() => cgroupDirs(s.marker), (l) => l.length === 0, 5000, 'cgroup dirs of the killed sandbox');
  }, 60_000);

  it('destroy ends what runs and leaves nothing: no process with its marker, no cgroup; exec afterwards is refused', async () => {
    const s = await create();
    await run(s, '(sleep 60 &) ; echo started');
    const running = run(s, 'sleep 30');
    await sleep(200);
    expect(markedProcesses(s.marker).map((p) => p.name).sort()).toEqual(['agent', 'bwrap']);
    if (cgroups === 'auto') expect(cgroupDirs(s.marker).length).toBeGreaterThanOrEqual(3);
    const procsBefore = Number(cgroups === 'auto' ? readFileSync(path.join(cgroupDirs(s.marker)[1]!, 'pids.current'), 'utf8') : 0);
    if (cgroups === 'auto') expect(procsBefore).toBeGreaterThan(6); // the agent's threads, both sleeps, their shells
    await s.destroy();
    await expect(running).rejects.toMatchObject({ code: 'driver_error', message: expect.stringMatching(/destroyed/) });
    await expect(run(s, 'true')).rejects.toMatchObject({ code: 'driver_error', message: expect.stringMatching(/destroyed/) });
    let settled = false;
    void s.died.then(() => (settled = true));
    // Killed at once; gone (the pid namespace torn down, the cgroup removed) a moment later.
    await until(() => markedProcesses(s.marker), (l) => l.length === 0, 2000, 'processes after destroy');
    await until(() => cgroupDirs(s.marker), (l) => l.length === 0, 5000, 'cgroup dirs after destroy');
    expect(settled).toBe(false); // `died` is for deaths other than destroy
  }, 60_000);
});

describe('bwrap warm pool', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-bwrap-pool-'));
  const config = loadConfig({
    env: { PADDOCK_CONFIG: '' },
    flags: { data_dir: dataDir, log_level: 'silent', pool: { size: 2 }, max_concurrent_jobs: 2, storage: { reserve_mb: 0 }, sandbox: hostUser(UID + 8).sandbox },
  });
  const driver = new BwrapDriver(config);
  afterAll(async () => {
    await driver.close();
    removeRunnerState(dataDir);
  }, 60_000);

  it('hands out sandboxes whose agent already said HELLO, refills, and never takes the uids jobs need', async () => {
    expect((await driver.detect()).available).toBe(true);
    driver.warm();
    const spec = { network: 'none' as const, files: [], limits: config.limits.default };
    await until(() => driver.poolReady(spec), (n) => n === 2, 10_000, 'warm sandboxes');
    const t0 = performance.now();
    const s = (await driver.create({ ...spec, id: 'pooled-1' })) as BwrapSandbox;
    const createMs = performance.now() - t0;
    expect(s.marker).toMatch(/^pool-/);
    expect(createMs).toBeLessThan(50);
    const r = await s.exec({ argv: ['/bin/echo', 'warm'], cwd: '/work', env: {} }, () => undefined, AbortSignal.timeout(5000));
    expect(r.stdout).toBe('warm\n');
    await until(() => driver.poolReady(spec), (n) => n === 2, 10_000, 'pool refilled');
    await s.destroy();
    // 8 uids, 2 (max_concurrent_jobs) never taken by the pool: a second class still gets warm
    // sandboxes (2 + 2 warm, 1 in use: 3 free) …
    const other = { ...config.limits.default, memory_mb: 100 };
    const t = (await driver.create({ ...spec, limits: other, id: 'fresh-1' })) as BwrapSandbox;
    expect(t.marker).toMatch(/^sbx-/); // nothing warm for it yet: started on demand
    await until(() => driver.poolReady({ ...spec, limits: other }), (n) => n === 2, 10_000, 'second class warm');
    // … but a third class gets at most one, and then two sandboxes at once still get a uid each.
    const third = { ...config.limits.default, memory_mb: 101 };
    const [u, v] = (await Promise.all([1, 2].map((i) => driver.create({ ...spec, limits: third, id: `fresh-${i + 1}` })))) as BwrapSandbox[];
    await sleep(500);
    expect(driver.poolReady({ ...spec, limits: third })).toBeLessThanOrEqual(1);
    for (const x of [u!, v!]) expect((await x.exec({ argv: ['/bin/true'], cwd: '/work', env: {} }, () => undefined, AbortSignal.timeout(5000))).exitCode).toBe(0);
    await Promise.all([t, u, v].map((x) => x.destroy()));
  }, 60_000);
});
