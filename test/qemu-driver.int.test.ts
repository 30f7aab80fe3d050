import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import type { ExecRequest, ExecResult, SandboxSpec } from '../src/sandbox/driver.js';
import { QemuDriver } from '../src/sandbox/qemu/driver.js';
import { createLogger } from '../src/util/log.js';
import type { QemuSandbox } from '../src/sandbox/qemu/sandbox.js';
import { IMAGES_DIR, qemuMissing, qemuProcesses } from './helpers/qemu.js';
import { removeRunnerState, sleep } from './helpers/sandbox.js';

// The qemu driver straight through its interface: real QEMU microVMs under TCG here (KVM where a
// probe boot works), Debian's kernel, the base image as the root disk, the agent as init.
const missing = qemuMissing();
const skip = !!missing && process.env.CI !== 'true';
const ENV = { PATH: '/usr/bin:/bin' };

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe.skipIf(skip)('qemu driver', () => {
  let dataDir: string;
  let driver: QemuDriver;
  const made: QemuSandbox[] = [];
  let defaults: SandboxSpec['limits'];
  let seq = 0;
  const create = async (spec: Partial<SandboxSpec> = {}) => {
    const s = (await driver.create({
      id: `sbx_qemu${process.pid}_${seq++}`,
      network: 'none',
      files: [],
      ...spec,
      limits: { ...defaults, ...spec.limits },
    })) as QemuSandbox;
    made.push(s);
    return s;
  };
  const run = (s: QemuSandbox, argv: string[], extra: Partial<ExecRequest> = {}): Promise<ExecResult> =>
    s.exec({ argv, cwd: '/work', env: ENV, ...extra }, () => undefined, new AbortController().signal);

  beforeAll(() => {
    if (missing) throw new Error(`qemu driver tests cannot run: ${missing}`);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pq-'));
    const config = loadConfig({
      env: { PADDOCK_CONFIG: '' },
      flags: { data_dir: dataDir, images_dir: IMAGES_DIR, log_level: 'silent', storage: { reserve_mb: 0 } },
    });
    defaults = { ...config.limits.default, memory_mb: 128, timeout_ms: 120_000 };
    driver = new QemuDriver(config, { log: createLogger('silent') });
  });
  afterAll(async () => {
    await Promise.all(made.map((s) => s.destroy()));
    if (dataDir) removeRunnerState(dataDir);
  }, 60_000);

  it('detects QEMU, the guest kernel and the accelerator it will use', async () => {
    const a = await driver.detect();
    expect(a.available, a.reason).toBe(true);
    expect(a.details?.kernel).toMatch(/^6\.\d+\.\d+-\d+-amd64$/);
    expect(a.details?.accel).toMatch(/^(kvm|tcg) \(/);
  }, 60_000);

  it('boot → exec → files → destroy: a kernel of its own, the spec files in /work, nothing left after', async () => {
    const s = await create({ files: [{ path: 'in/hello.txt', content: Buffer.from('hi from the host\n') }] });
    const r = await run(s, ['sh', '-c', 'cat in/hello.txt; uname -r; id -u; cat /proc/1/comm; ls /sys/class/net']);
    expect(r.exitCode, r.stderr).toBe(0);
    const [hello, release, uid, init, nets] = r.stdout.trim().split('\n');
    expect(hello).toBe('hi from the host');
    // The guest's own kernel (Debian's 6.1), not the host's.
    expect(release).not.toBe(os.release());
    expect(release).toMatch(/^6\.1\./);
    expect(uid).toBe('10001');
    expect(init).toBe('init');
    // network none: no device but lo.
    expect(nets).toBe('lo');
    expect(r.proc?.cpuMs).toBeGreaterThanOrEqual(0);

    await s.agent.writeFile('/work/up.bin', Buffer.from([0, 1, 2, 255]), { mode: 0o600 });
    const back = await s.agent.readFile('/work/up.bin');
    expect([...(await readAll(back.stream))]).toEqual([0, 1, 2, 255]);
    const st = await run(s, ['stat', '-c', '%a %u', '/work/up.bin']);
    expect(st.stdout.trim()).toBe('600 10001');

    // The root disk is the VM's own overlay: a write there stays in this VM.
    const other = await create();
    await run(s, ['sh', '-c', 'mkdir -p /var/tmp/mine && echo one > /var/tmp/mine/f']);
    expect((await run(other, ['sh', '-c', 'cat /var/tmp/mine/f 2>&1 || echo absent'])).stdout.trim()).toMatch(/absent|No such file/);

    const dir = path.join(dataDir, 'qemu', 'vms', s.id);
    const disk = path.join(dataDir, 'qemu', 'layers', `${s.id}-0.qcow2`);
    expect(existsSync(disk)).toBe(true);
    const pid = s.vm.pid!;
    await s.destroy();
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(disk)).toBe(false);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    await expect(run(s, ['true'])).rejects.toMatchObject({ code: 'driver_error' });
  }, 180_000);

  it('warm starts: sandboxes restore the booted template of their image and limits; a pool keeps restored VMs ready', async () => {
    const cmdline = (q: QemuSandbox) => readFileSync(`/proc/${q.vm.pid}/cmdline`, 'utf8').split('\0');
    const a = await create();
    const b = await create();
    // Both restored (-incoming) from one template, made by the first.
    expect(cmdline(a)).toContain('-incoming');
    expect(cmdline(b)).toContain('-incoming');
    expect(readdirSync(path.join(dataDir, 'qemu', 'templates'))).toHaveLength(1);
    expect((await run(b, ['cat', '/proc/1/comm'])).stdout).toBe('init\n');
    // Other limits, another template.
    await create({ limits: { ...defaults, memory_mb: 96 } });
    expect(readdirSync(path.join(dataDir, 'qemu', 'templates'))).toHaveLength(2);

    const pooled = new QemuDriver(
      loadConfig({ env: { PADDOCK_CONFIG: '' }, flags: { data_dir: dataDir, images_dir: IMAGES_DIR, log_level: 'silent', qemu: { pool_size: 1 } } }),
      { log: createLogger('silent') },
    );
    const spec = (i: number) => ({ id: `sbx_qemupool${process.pid}_${i}`, network: 'none' as const, files: [], limits: defaults });
    const first = (await pooled.create(spec(0))) as QemuSandbox;
    made.push(first);
    const vms = () => readdirSync(path.join(dataDir, 'qemu', 'vms'));
    const deadline = Date.now() + 60_000;
    while (!vms().some((n) => n.startsWith('pool_')) && Date.now() < deadline) await sleep(100);
    await sleep(2000); // its restore done
    const second = (await pooled.create(spec(1))) as QemuSandbox;
    made.push(second);
    // The pooled VM became the sandbox: its dir is the pool's, and the pool refills.
    expect(cmdline(second).some((arg) => arg.includes('/vms/pool_'))).toBe(true);
    expect((await run(second, ['echo', 'pooled'])).stdout).toBe('pooled\n');
    await pooled.close();
    expect(vms().filter((n) => n.startsWith('pool_'))).toHaveLength(0);

    const cold = new QemuDriver(
      loadConfig({ env: { PADDOCK_CONFIG: '' }, flags: { data_dir: dataDir, images_dir: IMAGES_DIR, log_level: 'silent', qemu: { warm_start: false } } }),
      { log: createLogger('silent') },
    );
    const booted = (await cold.create({ ...spec(2), id: `sbx_qemucold${process.pid}` })) as QemuSandbox;
    expect(cmdline(booted)).not.toContain('-incoming');
    await booted.destroy();
  }, 240_000);

  it('limits: CPU time, memory and output end the exec with their reason; the VM lives on', async () => {
    const s = await create({ limits: { ...defaults, memory_mb: 64, output_bytes: 4096 } });
    const cpu = await run(s, ['sh', '-c', 'while :; do :; done'], { limits: { cpuMs: 1000 } });
    expect({ limit: cpu.limit, signal: cpu.signal }).toEqual({ limit: 'cpu', signal: 'SIGXCPU' });
    // tail buffers a line without end: /dev/zero grows it past the guest's memory.
    const mem = await run(s, ['tail', '/dev/zero']);
    expect({ limit: mem.limit, signal: mem.signal }).toEqual({ limit: 'memory', signal: 'SIGKILL' });
    const out = await run(s, ['sh', '-c', 'yes paddock | head -c 100000']);
    expect(out.limit).toBe('output');
    expect(out.stdout.length).toBeLessThanOrEqual(4096);
    const wall = await run(s, ['sleep', '30'], { limits: { wallMs: 500 } });
    expect(wall.limit).toBe('wall');
    // The disk limit is the size of /work and /tmp.
    const disk = await run(s, ['sh', '-c', 'df -m /work | tail -1']);
    expect(Number(disk.stdout.trim().split(/\s+/)[1])).toBe(defaults.disk_mb);
    const ok = await run(s, ['echo', 'still here']);
    expect(ok.stdout).toBe('still here\n');
  }, 180_000);

  it('pause freezes the guest (execs are refused, its clock stops) and resume thaws it', async () => {
    const s = await create();
    await s.agent.writeFile('/tmp/count.sh', Buffer.from('i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done\n'));
    await run(s, ['sh', '-c', 'nohup sh /tmp/count.sh >/dev/null 2>&1 &']);
    await sleep(500);
    const before = Number((await run(s, ['cat', '/tmp/count'])).stdout);
    await s.pause();
    await expect(run(s, ['true'])).rejects.toMatchObject({ code: 'conflict' });
    await sleep(2000);
    await s.resume();
    // Two seconds paused are ~20 turns of the loop running; frozen, only the round trips' few.
    const frozen = Number((await run(s, ['cat', '/tmp/count'])).stdout);
    expect(frozen - before).toBeLessThanOrEqual(5);
    const a = Number((await run(s, ['cat', '/tmp/count'])).stdout);
    await sleep(500);
    const b = Number((await run(s, ['cat', '/tmp/count'])).stdout);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(a);
  }, 120_000);

  it("snapshot → fork ×2: each fork goes on from the parent's memory (a running counter, a tmpfs secret) and diverges on its own", async () => {
    const parent = await create();
    await parent.agent.writeFile('/tmp/count.sh', Buffer.from('i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done\n'));
    await run(parent, ['sh', '-c', 'head -c 16 /dev/urandom | od -An -tx1 | tr -d " " > /tmp/secret; nohup sh /tmp/count.sh >/dev/null 2>&1 &']);
    await sleep(700);
    const secret = (await run(parent, ['cat', '/tmp/secret'])).stdout.trim();
    expect(secret).toMatch(/^[0-9a-f]{32}$/);
    const snap = path.join(dataDir, 'snap-test');
    mkdirSync(snap);
    await parent.snapshotMemory(snap);
    const atSnapshot = Number((await run(parent, ['cat', '/tmp/count'])).stdout);
    expect(atSnapshot).toBeGreaterThan(0);

    const forks: QemuSandbox[] = [];
    for (const i of [0, 1]) {
      const f = (await driver.restore({ id: `sbx_qemufork${process.pid}_${i}`, network: 'none', files: [], limits: defaults }, snap)) as QemuSandbox;
      made.push(f);
      forks.push(f);
    }
    for (const [i, f] of forks.entries()) {
      // The secret only ever existed in the parent's tmpfs, i.e. its memory.
      expect((await run(f, ['cat', '/tmp/secret'])).stdout.trim()).toBe(secret);
      // The counter runs on in each fork, from where the snapshot caught it (not from 0).
      const a = Number((await run(f, ['cat', '/tmp/count'])).stdout);
      expect(a).toBeGreaterThanOrEqual(atSnapshot - 2);
      await sleep(400);
      expect(Number((await run(f, ['cat', '/tmp/count'])).stdout)).toBeGreaterThan(a);
      await run(f, ['sh', '-c', `echo fork${i} > /tmp/mine; echo fork${i} > /var/tmp/disk-mine`]);
    }
    // Independent: each sees only its own writes, to memory and to disk; the parent neither.
    for (const [i, f] of forks.entries()) {
      expect((await run(f, ['cat', '/tmp/mine', '/var/tmp/disk-mine'])).stdout).toBe(`fork${i}\nfork${i}\n`);
    }
    expect((await run(parent, ['sh', '-c', 'cat /tmp/mine /var/tmp/disk-mine 2>/dev/null; echo end'])).stdout).toBe('end\n');
    // Each fork's kernel reseeded its random generator: no two draw alike.
    const draws = await Promise.all([parent, ...forks].map(async (x) => (await run(x, ['sh', '-c', 'head -c 16 /dev/urandom | od -An -tx1'])).stdout));
    expect(new Set(draws).size).toBe(3);
    // The clock is the host's, not the snapshot's.
    const guestNow = Number((await run(forks[0]!, ['date', '+%s'])).stdout);
    expect(Math.abs(guestNow - Date.now() / 1000)).toBeLessThan(5);
    // The parent runs on, its disk now a layer above the frozen one.
    expect(Number((await run(parent, ['cat', '/tmp/count'])).stdout)).toBeGreaterThan(atSnapshot);
    // A fork of a destroyed parent lives on: the snapshot pins the frozen layer it stands on.
    const layers = () => readdirSync(path.join(dataDir, 'qemu', 'layers')).filter((n) => n.startsWith(parent.id));
    await parent.destroy();
    expect(layers()).toEqual([`${parent.id}-0.qcow2`]);
    expect((await run(forks[1]!, ['cat', '/tmp/secret'])).stdout.trim()).toBe(secret);
    // Once the snapshot and its forks are gone, so is the layer.
    rmSync(snap, { recursive: true });
    for (const f of forks) await f.destroy();
    expect(layers()).toEqual([]);
  }, 240_000);

  it('a guest that panics is reported dead with its console, and its VM is gone', async () => {
    const s = await create();
    await run(s, ['true']);
    // An NMI from the host panics the guest kernel (the VM's command line asks for it).
    await s.vm.qmp!.execute('inject-nmi');
    const why = await Promise.race([s.died, sleep(30_000).then(() => 'still alive')]);
    expect(why).toMatch(/Kernel panic - not syncing/);
    await expect(run(s, ['true'])).rejects.toMatchObject({ code: 'driver_error' });
    await sleep(200);
    expect(existsSync(path.join(dataDir, 'qemu', 'vms', s.id))).toBe(false);
  }, 120_000);

  it('reapOrphans removes VM dirs a killed runner left and kills a QEMU still running from one', async () => {
    const s = await create();
    const dir = path.join(dataDir, 'qemu', 'vms', s.id);
    // As if the runner had died: a second driver on the same data dir finds the VM at start-up.
    const config = loadConfig({ env: { PADDOCK_CONFIG: '' }, flags: { data_dir: dataDir, images_dir: IMAGES_DIR, log_level: 'silent' } });
    const next = new QemuDriver(config, { log: createLogger('silent') });
    expect(await next.reapOrphans()).toBeGreaterThanOrEqual(1);
    expect(existsSync(dir)).toBe(false);
    expect(await Promise.race([s.died, sleep(10_000).then(() => 'alive')])).toMatch(/killed by SIGKILL/);
    expect(qemuProcesses(dir)).toEqual([]);
    expect(readdirSync(path.join(dataDir, 'qemu', 'layers')).filter((n) => n.startsWith(s.id))).toEqual([]);
  }, 120_000);
});

