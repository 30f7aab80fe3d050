import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { DockerDriver } from '../src/sandbox/docker/driver.js';
import type { ExecRequest, ExecResult, Sandbox, SandboxSpec } from '../src/sandbox/driver.js';
import { createLogger } from '../src/util/log.js';
import { docker, type DockerDriverName, dockerMissing, imageExists, pollUntil, removeRunnerContainers, RUNTIME, runnerContainers } from './helpers/docker.js';
import { removeRunnerState, sleep } from './helpers/sandbox.js';

// Persistent sandboxes of the docker (runc) and gvisor (runsc) drivers, straight through the
// driver against the machine's Docker Engine: one container, its agent as PID 1, many commands.
const PYTHON = 'paddock/python:latest';
const UIDS = { uid_range_start: 240_000, uid_range_size: 200 };
const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };
const missing = (await dockerMissing()) ?? ((await imageExists(PYTHON)) ? undefined : `${PYTHON} is not built (paddock image build python)`);
const skip = !!missing && process.env.CI !== 'true';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe.skipIf(skip).each(['docker', 'gvisor'] as DockerDriverName[])('%s driver: persistent sandboxes', (name) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-persistent-'));
  const config = loadConfig({ env: {}, flags: { data_dir: dataDir, log_level: 'silent', docker: UIDS, pool: { size: 0 }, storage: { reserve_mb: 0 } } });
  const driver = new DockerDriver(config, { name, runtime: RUNTIME[name], log: createLogger('silent') });
  const made: Sandbox[] = [];
  const create = async (spec: Partial<SandboxSpec> = {}) => {
    const s = await driver.create({ id: `persist-${Date.now()}-${made.length}`, network: 'none', files: [], limits: config.limits.default, ...spec });
    made.push(s);
    return s;
  };
  const run = (s: Sandbox, script: string, extra: Partial<ExecRequest> = {}, signal = AbortSignal.timeout(30_000)): Promise<ExecResult> =>
    s.exec({ argv: ['/bin/sh', '-c', script], cwd: '/work', env: ENV, ...extra }, () => undefined, signal);

  beforeAll(async () => {
    if (missing) throw new Error(`persistent sandbox tests cannot run: ${missing}`);
    const found = await driver.detect();
    expect(found, found.reason).toMatchObject({ available: true });
    expect(driver.capabilities).toMatchObject({ persistent: true, pause: true });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(made.map((s) => s.destroy()));
    await driver.close();
    await removeRunnerContainers(dataDir);
    removeRunnerState(dataDir);
  }, 60_000);

  it('runs many commands in one container, keeping its files; the agent is PID 1', async () => {
    const s = await create({ files: [{ path: 'in.txt', content: Buffer.from('input\n') }] });
    const first = await run(s, 'cat in.txt; echo one > /work/state; hostname; cat /proc/1/cmdline | tr "\\0" " "');
    expect(first.exitCode, first.stderr).toBe(0);
    const [input, host, pid1] = first.stdout.split('\n');
    expect(input).toBe('input');
    expect(pid1).toMatch(/^\/\.paddock\/agent --run-as=\d+ $/);
    for (let i = 0; i < 10; i++) {
      const r = await run(s, `echo $(cat /work/state) ${i}; hostname; exit ${i}`);
      expect({ exit: r.exitCode, out: r.stdout, signal: r.signal }).toEqual({ exit: i, out: `one ${i}\n${host}\n`, signal: null });
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
    expect(await s.agent!.writeFile('/work/data/blob.bin', content, { mkdirs: true, mode: 0o600 })).toEqual({ size: content.length });
    const r = await run(s, 'sha256sum /work/data/blob.bin | cut -d" " -f1; find /work/data -perm 0600 -type f; find /work/data -printf "%u\\n" | sort -u; id -u');
    const { createHash } = await import('node:crypto');
    const [sum, found, owner, uid] = r.stdout.split('\n');
    // What the agent wrote is the job's: its uid owns the file and the directory made for it.
    expect({ sum, found, owner }).toEqual({ sum: createHash('sha256').update(content).digest('hex'), found: '/work/data/blob.bin', owner: uid });
    await run(s, 'printf made-inside > /work/data/out.txt');
    const read = await s.agent!.readFile('/work/data/blob.bin');
    expect((await readAll(read.stream)).equals(content)).toBe(true);
    expect((await readAll((await s.agent!.readFile('/work/data/out.txt')).stream)).toString()).toBe('made-inside');
    const { entries } = await s.agent!.list('/work/data');
    expect(entries.map((e) => [e.name, e.type, e.size]).sort()).toEqual([['blob.bin', 'file', 1 << 20], ['out.txt', 'file', 11]]);
  }, 60_000);

  it('reaches a TCP server started inside, on loopback, with network none', async () => {
    const s = await create({ image: 'python' });
    const server = run(s, 'exec python3 -c "import http.server as h; h.test(HandlerClass=h.SimpleHTTPRequestHandler, port=8080, bind=\'127.0.0.1\')"', {}, AbortSignal.timeout(60_000));
    await run(s, 'echo served > /work/hello.txt');
    const reply = await pollUntil(async () => {
      try {
        const sock = await s.agent!.connect(8080);
        sock.end('GET /hello.txt HTTP/1.0\r\n\r\n');
        return (await readAll(sock)).toString();
      } catch (err) {
        return String(err);
      }
    }, (text) => text.startsWith('HTTP/1.0 200'), 20_000, 'HTTP server inside');
    expect(reply).toMatch(/\r\n\r\nserved\n$/);
    await expect(s.agent!.connect(8081)).rejects.toMatchObject({ agentCode: 'refused' });
    await s.destroy();
    await expect(server).rejects.toMatchObject({ code: 'driver_error' });
  }, 60_000);

  it('pauses (exec refused with conflict, running commands frozen) and resumes', async () => {
    const s = await create();
    const ticks: string[] = [];
    const ticking = s.exec(
      { argv: ['/bin/sh', '-c', 'for i in $(seq 1 30); do echo $i; sleep 0.1; done'], cwd: '/work', env: ENV },
      (_stream, chunk) => ticks.push(...chunk.toString().split('\n').filter(Boolean)),
      AbortSignal.timeout(60_000),
    );
    await pollUntil(async () => ticks.length, (n) => n >= 3, 10_000, 'ticks before pause');
    await s.pause!();
    await sleep(300); // what was in flight arrives
    const frozenAt = ticks.length;
    await expect(run(s, 'true')).rejects.toMatchObject({ code: 'conflict' });
    await sleep(1000);
    expect(ticks.length).toBe(frozenAt);
    await s.resume!();
    const done = await ticking;
    expect({ exit: done.exitCode, last: ticks.at(-1), count: ticks.length }).toEqual({ exit: 0, last: '30', count: 30 });
    expect(done.wallMs).toBeGreaterThan(4000); // 3 s of ticks plus the second it was frozen
    expect((await run(s, 'echo after')).stdout).toBe('after\n');
  }, 60_000);

  it('a command aborted while its sandbox is paused ends once it resumes; the sandbox is not killed for it', async () => {
    const s = await create();
    const ac = new AbortController();
    let settled = false;
    const running = run(s, 'sleep 30', {}, ac.signal).finally(() => (settled = true));
    await sleep(300);
    await s.pause!();
    ac.abort('cancel');
    await sleep(4000); // past the grace after which an agent that does not answer loses its container
    expect(settled).toBe(false);
    await s.resume!();
    expect(await running).toMatchObject({ aborted: 'cancel', signal: 'SIGKILL' });
    expect((await run(s, 'echo alive')).stdout).toBe('alive\n');
  }, 60_000);

  it('an abort kills the command, not the sandbox', async () => {
    const s = await create();
    const t0 = performance.now();
    const r = await run(s, 'sleep 30', {}, AbortSignal.timeout(500));
    expect({ aborted: r.aborted, signal: r.signal }).toMatchObject({ signal: 'SIGKILL' });
    expect(r.aborted).toBeDefined();
    expect(performance.now() - t0).toBeLessThan(3000);
    expect((await run(s, 'echo alive')).stdout).toBe('alive\n');
  }, 60_000);

  it('an agent that does not answer an abort (stopped from the host) loses its container; the command ends aborted', async () => {
    const s = await create();
    const host = (await run(s, 'hostname')).stdout.trim();
    const mine = (await runnerContainers(dataDir)).find((c) => c.id.startsWith(host))!;
    const ac = new AbortController();
    const running = run(s, 'sleep 30', {}, ac.signal);
    await sleep(300);
    // runc: State.Pid is the agent; runsc: the sandbox's host process, which runs the whole sandbox.
    process.kill(mine.info.State.Pid, 'SIGSTOP');
    try {
      const t0 = performance.now();
      ac.abort('timeout');
      expect(await running).toMatchObject({ aborted: 'timeout', signal: 'SIGKILL' });
      expect(performance.now() - t0).toBeGreaterThan(2500);
      // runc: the kill ends it after the grace; runsc cannot kill a stopped sandbox, so the runner lets go after another.
      expect(performance.now() - t0).toBeLessThan(9000);
      expect(await s.died).toMatch(/did not answer an abort within 3000 ms, so Paddock killed the container/);
    } finally {
      try {
        process.kill(mine.info.State.Pid, 'SIGCONT');
      } catch {
        // gone already
      }
    }
  }, 60_000);

  it('kill -9 1 from inside does nothing: the agent and the command go on', async () => {
    const s = await create();
    const r = await run(s, 'kill -9 1 2>/dev/null; echo "kill=$?"; kill -TERM 1 2>/dev/null; kill -KILL -1 2>/dev/null; sleep 0.5; echo still here');
    expect({ exit: r.exitCode, out: r.stdout }).toEqual({ exit: 0, out: 'kill=1\nstill here\n' });
    expect((await run(s, 'echo next')).stdout).toBe('next\n');
  }, 60_000);

  it('the agent killed from outside: the running command fails as a driver failure, `died` says why, nothing hangs', async () => {
    const s = await create();
    const host = (await run(s, 'hostname')).stdout.trim();
    const running = run(s, 'sleep 30', {}, AbortSignal.timeout(60_000));
    await sleep(300);
    const mine = (await runnerContainers(dataDir)).find((c) => c.id.startsWith(host));
    expect(mine, host).toBeDefined();
    const t0 = performance.now();
    await docker.getContainer(mine!.id).kill({ signal: 'SIGKILL' });
    await expect(running).rejects.toMatchObject({ code: 'driver_error', message: expect.stringMatching(/died under the command: .*signal 9, from outside Paddock/) });
    expect(await s.died).toMatch(/status 137 \(signal 9, from outside Paddock\)/);
    expect(performance.now() - t0).toBeLessThan(5000);
    await expect(run(s, 'true')).rejects.toMatchObject({ code: 'driver_error', message: expect.stringMatching(/is dead/) });
    await s.destroy();
    await s.destroy(); // idempotent
    await pollUntil(() => runnerContainers(dataDir), (l) => !l.some((c) => c.id === mine!.id), 10_000, 'container removed');
  }, 60_000);

  it('destroy removes the container and ends what runs in it; exec afterwards is refused', async () => {
    const s = await create();
    const host = (await run(s, 'hostname')).stdout.trim();
    const running = run(s, 'sleep 30');
    await sleep(200);
    await s.destroy();
    await expect(running).rejects.toMatchObject({ code: 'driver_error', message: expect.stringMatching(/destroyed/) });
    await expect(run(s, 'true')).rejects.toMatchObject({ code: 'driver_error', message: expect.stringMatching(/destroyed/) });
    let settled = false;
    void s.died!.then(() => (settled = true));
    await pollUntil(() => runnerContainers(dataDir), (l) => !l.some((c) => c.id.startsWith(host)), 10_000, 'container removed');
    expect(settled).toBe(false); // `died` is for deaths other than destroy
  }, 60_000);
});

describe.skipIf(skip).each(['docker', 'gvisor'] as DockerDriverName[])('%s driver: warm pool of agents', (name) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-pool-'));
  const config = loadConfig({ env: {}, flags: { data_dir: dataDir, log_level: 'silent', docker: UIDS, pool: { size: 1 }, storage: { reserve_mb: 0 } } });
  const driver = new DockerDriver(config, { name, runtime: RUNTIME[name], log: createLogger('silent') });
  const spec = () => ({ id: `pooled-${Date.now()}`, network: 'none' as const, files: [], limits: config.limits.default });
  const hostname = async (s: Sandbox) => (await s.exec({ argv: ['hostname'], cwd: '/work', env: ENV }, () => undefined, AbortSignal.timeout(30_000))).stdout.trim();
  const pooled = () => runnerContainers(dataDir, { pool: true });
  afterAll(async () => {
    await driver.close();
    await removeRunnerContainers(dataDir);
    removeRunnerState(dataDir);
  }, 60_000);

  it('hands out a container whose agent already said HELLO; one that died while idle is dropped', async () => {
    if (missing) throw new Error(`pool tests cannot run: ${missing}`);
    const first = await driver.create(spec()); // nothing pooled yet: started for it, and the pool fills behind it
    await first.destroy();
    // Ready once the pool holds it (its warm-up command done), not when Docker first lists it.
    await pollUntil(() => driver.poolReady(spec()), (n) => n === 1, 30_000, 'pool filled');
    const [idle] = await pooled();
    const t0 = performance.now();
    const warm = await driver.create(spec());
    const took = performance.now() - t0;
    expect(idle!.id.startsWith(await hostname(warm))).toBe(true);
    expect(took).toBeLessThan(100); // no Engine call on the way: the pooled session is handed over
    await warm.destroy();

    await pollUntil(() => driver.poolReady(spec()), (n) => n === 1, 30_000, 'pool refilled');
    const [next] = await pollUntil(pooled, (l) => l.length === 1 && l[0]!.id !== idle!.id, 10_000, 'used container removed');
    await docker.getContainer(next!.id).kill({ signal: 'SIGKILL' });
    await sleep(500); // its attach stream ends
    const fresh = await driver.create(spec());
    const host = await hostname(fresh);
    expect(next!.id.startsWith(host)).toBe(false);
    await fresh.destroy();
    await pollUntil(() => runnerContainers(dataDir), (l) => !l.some((c) => c.id === next!.id), 10_000, 'dead pooled container removed');
  }, 90_000);
});
