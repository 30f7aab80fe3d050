import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daytona } from '@daytonaio/sdk';
import { Sandbox } from 'e2b';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGES_DIR, qemuMissing, qemuProcesses } from './helpers/qemu.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// Memory snapshots, forks and pause through a real `paddock serve` on the qemu driver: the native
// sandboxes API, the real E2B SDK and the real Daytona SDK; then kill -9 of the runner with VMs running.
const missing = qemuMissing();
const skip = !!missing && process.env.CI !== 'true';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const COUNTER = 'nohup sh -c \'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done\' >/dev/null 2>&1 &';

describe.skipIf(skip)('qemu sandboxes through the API and the SDKs', () => {
  let dataDir: string;
  let server: ServerProcess;
  let token: string;

  beforeAll(async () => {
    if (missing) throw new Error(`qemu sandbox tests cannot run: ${missing}`);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pqs-'));
    server = await startServerProcess(dataDir, { PADDOCK_DRIVERS: 'qemu', PADDOCK_IMAGES_DIR: IMAGES_DIR, PADDOCK_POOL__SIZE: '0' });
    token = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  }, 60_000);
  afterAll(async () => {
    if (server) await stopServerProcess(server, 'SIGTERM');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  const sh = async (id: string, script: string): Promise<string> => {
    const res = await server.api('POST', `/v1/sandboxes/${id}/exec`, { command: ['/bin/sh', '-c', script] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.exit_code, res.body.stderr).toBe(0);
    return res.body.stdout;
  };

  it('native API: snapshot and fork keep memory (kind memory), pause/resume, deleting the snapshot removes its files', async () => {
    const created = await server.api('POST', '/v1/sandboxes', { driver: 'qemu', limits: { memory_mb: 128 } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id;
    await sh(id, `echo s3cr3t > /tmp/secret; ${COUNTER}`);
    await sleep(500);

    const snap = await server.api('POST', `/v1/sandboxes/${id}/snapshot`, { labels: { v: '1' } });
    expect(snap.status, JSON.stringify(snap.body)).toBe(201);
    expect(snap.body).toMatchObject({ kind: 'memory', sandbox_id: id, driver: 'qemu', labels: { v: '1' } });
    expect(existsSync(path.join(dataDir, 'snapshots', snap.body.id, 'memory'))).toBe(true);

    const fork = await server.api('POST', `/v1/sandboxes/${id}/fork`, { count: 2 });
    expect(fork.status, JSON.stringify(fork.body)).toBe(201);
    expect(fork.body.kind).toBe('memory');
    expect(fork.body.sandboxes).toHaveLength(2);
    for (const f of fork.body.sandboxes) {
      expect(f.driver).toBe('qemu');
      expect(await sh(f.id, 'cat /tmp/secret')).toBe('s3cr3t\n');
      const a = Number(await sh(f.id, 'cat /tmp/count'));
      await sleep(300);
      expect(Number(await sh(f.id, 'cat /tmp/count'))).toBeGreaterThan(a);
    }
    // A sandbox from the kept snapshot, too.
    const from = await server.api('POST', '/v1/sandboxes', { snapshot: snap.body.id });
    expect(from.status, JSON.stringify(from.body)).toBe(201);
    expect(await sh(from.body.id, 'cat /tmp/secret')).toBe('s3cr3t\n');

    expect((await server.api('POST', `/v1/sandboxes/${id}/pause`)).status).toBe(200);
    expect((await server.api('POST', `/v1/sandboxes/${id}/exec`, { command: ['true'] })).status).toBe(409);
    expect((await server.api('POST', `/v1/sandboxes/${id}/resume`)).status).toBe(200);
    expect(await sh(id, 'cat /tmp/secret')).toBe('s3cr3t\n');

    expect((await server.api('DELETE', `/v1/snapshots/${snap.body.id}`)).status).toBe(204);
    expect(existsSync(path.join(dataDir, 'snapshots', snap.body.id))).toBe(false);
    for (const sid of [id, from.body.id, ...fork.body.sandboxes.map((f: { id: string }) => f.id)]) {
      expect((await server.api('DELETE', `/v1/sandboxes/${sid}`)).status).toBe(204);
    }
  }, 240_000);

  it('E2B SDK: fork and a snapshot template carry the memory (a running process, a tmpfs file); pause and connect', async () => {
    const base = `${server.url}/e2b`;
    const opts = { apiKey: token, apiUrl: base, sandboxUrl: base };
    // allowInternetAccess: true is network egress: a VM in a namespace of its own, and so are its forks.
    const sbx = await Sandbox.create({ ...opts, allowInternetAccess: true });
    expect((await sbx.commands.run('ls /sys/class/net')).stdout).toBe('eth0\nlo\n');
    await sbx.commands.run(`echo from-e2b > /tmp/note; ${COUNTER}`);
    await sleep(400);
    const forks = await Sandbox.fork(sbx.sandboxId, { ...opts, count: 1 });
    const fork = forks[0];
    if (!(fork instanceof Sandbox)) throw fork ?? new Error('no fork');
    expect(await fork.files.read('/tmp/note')).toBe('from-e2b\n');
    expect((await fork.commands.run('ls /sys/class/net')).stdout).toBe('eth0\nlo\n');
    const a = Number((await fork.commands.run('cat /tmp/count')).stdout);
    await sleep(300);
    expect(Number((await fork.commands.run('cat /tmp/count')).stdout)).toBeGreaterThan(a);
    const snap = await sbx.createSnapshot();
    const fromSnap = await Sandbox.create(snap.snapshotId, opts);
    expect(await fromSnap.files.read('/tmp/note')).toBe('from-e2b\n');
    expect(await sbx.pause()).toBe(true);
    const back = await Sandbox.connect(sbx.sandboxId, opts);
    expect((await back.commands.run('cat /tmp/note')).stdout).toBe('from-e2b\n');
    for (const s of [fork, fromSnap, sbx]) await s.kill();
  }, 240_000);

  it("Daytona SDK: fork carries the sandbox's memory; stop and start pause and resume it", async () => {
    const daytona = new Daytona({ apiUrl: `${server.url}/daytona/api`, apiKey: token, target: 'local' });
    try {
      const sandbox = await daytona.create({ name: 'vm-main', networkBlockAll: true });
      await sandbox.process.executeCommand(`echo from-daytona > /tmp/note; ${COUNTER}`);
      const fork = await sandbox.fork({ name: 'vm-fork' });
      expect((await fork.process.executeCommand('cat /tmp/note')).result).toBe('from-daytona\n');
      await sandbox.stop();
      expect(sandbox.state).toBe('stopped');
      await sandbox.start();
      expect((await sandbox.process.executeCommand('cat /tmp/note')).result).toBe('from-daytona\n');
      await fork.delete();
      await sandbox.delete();
    } finally {
      await daytona[Symbol.asyncDispose]();
    }
  }, 240_000);

  it('kill -9 of the runner with VMs running: no QEMU is left, and the restart removes their dirs and disks', async () => {
    const layers = () => readdirSync(path.join(dataDir, 'qemu', 'layers')).sort();
    // What the E2B test's kept snapshot stands on stays; the VMs' own layers go.
    const pinned = layers();
    for (let i = 0; i < 2; i++) expect((await server.api('POST', '/v1/sandboxes', { driver: 'qemu' })).status).toBe(201);
    expect(layers().length).toBe(pinned.length + 2);
    const vms = path.join(dataDir, 'qemu', 'vms');
    expect(readdirSync(vms)).toHaveLength(2);
    await stopServerProcess(server, 'SIGKILL');
    // PR_SET_PDEATHSIG: every QEMU died with the runner.
    const deadline = Date.now() + 5000;
    while (qemuProcesses(path.join(dataDir, 'qemu')).length && Date.now() < deadline) await sleep(100);
    expect(qemuProcesses(path.join(dataDir, 'qemu'))).toEqual([]);
    server = await startServerProcess(dataDir, { PADDOCK_DRIVERS: 'qemu', PADDOCK_IMAGES_DIR: IMAGES_DIR, PADDOCK_POOL__SIZE: '0' });
    expect(readdirSync(vms)).toEqual([]);
    expect(layers()).toEqual(pinned);
    const list = await server.api('GET', '/v1/sandboxes?state=running');
    expect(list.body.items ?? []).toEqual([]);
  }, 120_000);

  it('retention: snapshots past sandboxes.snapshot_max_age_ms go, files, pins and disk layers with them', async () => {
    await stopServerProcess(server, 'SIGTERM');
    server = await startServerProcess(dataDir, {
      PADDOCK_DRIVERS: 'qemu',
      PADDOCK_IMAGES_DIR: IMAGES_DIR,
      PADDOCK_POOL__SIZE: '0',
      PADDOCK_SANDBOXES__SNAPSHOT_MAX_AGE_MS: '1500',
      PADDOCK_SANDBOXES__SNAPSHOT_MAX_MB: '8',
      PADDOCK_RETENTION__INTERVAL_MS: '200',
    });
    // The E2B test's snapshot is long past 1.5 s.
    const deadline = Date.now() + 15_000;
    while ((await server.api('GET', '/v1/snapshots')).body.items.length && Date.now() < deadline) await sleep(200);
    expect((await server.api('GET', '/v1/snapshots')).body.items).toEqual([]);
    expect(readdirSync(path.join(dataDir, 'snapshots'))).toEqual([]);
    // A VM's end collects the layers nothing stands on any more; the warm-start templates' stay.
    const s = await server.api('POST', '/v1/sandboxes', { driver: 'qemu' });
    // A guest's memory past sandboxes.snapshot_max_mb: 413, and nothing kept.
    const big = await server.api('POST', `/v1/sandboxes/${s.body.id}/snapshot`);
    expect({ status: big.status, code: big.body.code }).toEqual({ status: 413, code: 'snapshot_too_large' });
    expect(readdirSync(path.join(dataDir, 'snapshots'))).toEqual([]);
    expect((await server.api('DELETE', `/v1/sandboxes/${s.body.id}`)).status).toBe(204);
    expect(readdirSync(path.join(dataDir, 'qemu', 'layers')).filter((n) => !n.startsWith('tpl_'))).toEqual([]);
  }, 120_000);
});
