import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import { expectProblem, type Json, request } from './helpers/api.js';
import { dockerMissing, removeRunnerContainers } from './helpers/docker.js';
import type { TestRunner } from './helpers/runner.js';
import { startSandboxRunner } from './helpers/sandbox-runner.js';

// Filesystem snapshots and forks (src/sandboxes/snapshots.ts) through the API, on every driver:
// the files of /work and /tmp survive into new sandboxes, nothing of the host is followed.
const missing = await dockerMissing();
const CAP_MB = 2;
const drivers = [
  { name: 'bwrap', flags: { drivers: ['bwrap'], sandbox: { uid_range_start: 440_000, uid_range_size: 16 } }, docker: false },
  { name: 'docker', flags: { drivers: ['docker'], docker: { uid_range_start: 450_000, uid_range_size: 40 } }, docker: true },
  { name: 'gvisor', flags: { drivers: ['gvisor'], docker: { uid_range_start: 450_040, uid_range_size: 40 } }, docker: true },
];

describe.each(drivers)('snapshots and forks on $name', ({ name, flags, docker }) => {
  const skip = docker && !!missing && process.env.CI !== 'true';
  let r: TestRunner;

  beforeAll(async () => {
    if (skip) return;
    if (docker && missing) throw new Error(`${name} cannot run: ${missing}`);
    r = await startSandboxRunner(undefined, { ...flags, pool: { size: 0 }, sandboxes: { snapshot_max_mb: CAP_MB, max_snapshots: 3, max_forks: 2 } });
  }, 60_000);
  afterAll(async () => {
    if (!r) return;
    await r.close();
    if (docker) await removeRunnerContainers(r.dataDir);
  }, 60_000);

  async function create(body: Json = {}): Promise<Json> {
    const res = await r.api('POST', '/v1/sandboxes', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }
  async function sh(id: string, script: string): Promise<string> {
    const res = await r.api('POST', `/v1/sandboxes/${id}/exec`, { command: ['/bin/sh', '-c', script] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.exit_code, res.body.stderr).toBe(0);
    return res.body.stdout;
  }
  /** A failed test leaves no snapshot for the next one to trip over. */
  async function clearSnapshots(): Promise<void> {
    for (const s of (await r.api('GET', '/v1/snapshots?limit=500')).body.items) await r.api('DELETE', `/v1/snapshots/${s.id}`);
  }
  const snapshotFiles = () => (existsSync(path.join(r.dataDir, 'snapshots')) ? readdirSync(path.join(r.dataDir, 'snapshots')) : []);

  it.skipIf(skip)('keeps /work and /tmp, modes and symlinks (never followed) into forks and new sandboxes; each copy is its own', async () => {
    const src = await create({ env: { FROM_SOURCE: 'yes' }, labels: { team: 'a' } });
    await sh(
      src.id,
      'mkdir -p /work/sub && echo one > /work/sub/a.txt && printf "#!/bin/sh\\necho ran\\n" > /work/run.sh && chmod 0750 /work/run.sh && ' +
        'echo tmp > /tmp/t.txt && ln -s /etc/shadow /work/shadow && ln -s /root /work/rootdir',
    );
    const snap = await r.api('POST', `/v1/sandboxes/${src.id}/snapshots`, { labels: { v: '1' } });
    expect(snap.status, JSON.stringify(snap.body)).toBe(201);
    expect(snap.body).toMatchObject({ kind: 'filesystem', sandbox_id: src.id, driver: name, labels: { v: '1' } });
    expect(snap.body.size_bytes).toBeGreaterThan(0);
    // The host keeps bytes only: one private regular file, no tree of the job's paths.
    expect(snapshotFiles()).toEqual([`${snap.body.id}.tar`]);
    const st = statSync(path.join(r.dataDir, 'snapshots', `${snap.body.id}.tar`));
    expect(st.isFile() && (st.mode & 0o077) === 0).toBe(true);
    expect(st.size).toBe(snap.body.size_bytes);

    // Changed after the snapshot: a sandbox from it does not see the change.
    await sh(src.id, 'echo two > /work/sub/a.txt');
    const fromSnap = await create({ snapshot: snap.body.id });
    expect(fromSnap.driver).toBe(name);
    // find, not stat or ls: this gVisor fails coreutils' statx with EINVAL.
    const seen = await sh(
      fromSnap.id,
      'cat /work/sub/a.txt /tmp/t.txt; /work/run.sh; find /work/run.sh -printf "%m\\n"; readlink /work/shadow /work/rootdir; echo "env=$FROM_SOURCE"; find /tmp -mindepth 1',
    );
    expect(seen.split('\n')).toEqual(['one', 'tmp', 'ran', '750', '/etc/shadow', '/root', 'env=yes', '/tmp/t.txt', '']);
    // The link points into the new sandbox, whose /etc/shadow is not the host's.
    const shadow = await r.api('POST', `/v1/sandboxes/${fromSnap.id}/exec`, { command: ['cat', '/work/shadow'] });
    expect(shadow.body.exit_code).not.toBe(0);

    const fork = await r.api('POST', `/v1/sandboxes/${src.id}/fork`, { count: 2 });
    expect(fork.status, JSON.stringify(fork.body)).toBe(201);
    expect(fork.body.errors).toEqual([]);
    expect(fork.body.sandboxes).toHaveLength(2);
    const [f1, f2] = fork.body.sandboxes;
    expect(f1).toMatchObject({ driver: name, labels: { team: 'a' }, state: 'running' });
    expect(await sh(f1.id, 'cat /work/sub/a.txt')).toBe('two\n');
    await sh(f1.id, 'echo mine > /work/sub/a.txt');
    expect(await sh(f2.id, 'cat /work/sub/a.txt')).toBe('two\n');
    expect(await sh(src.id, 'cat /work/sub/a.txt')).toBe('two\n');
    // A fork's own snapshot is gone once the forks are made.
    expect(snapshotFiles()).toEqual([`${snap.body.id}.tar`]);

    const del = await r.api('DELETE', `/v1/snapshots/${snap.body.id}`);
    expect(del.status).toBe(204);
    expectProblem(await r.api('GET', `/v1/snapshots/${snap.body.id}`), 404, 'not_found');
    expect(snapshotFiles()).toEqual([]);
    expectProblem(await r.api('POST', '/v1/sandboxes', { snapshot: snap.body.id }), 404, 'not_found');
    for (const s of [src, fromSnap, f1, f2]) await r.api('DELETE', `/v1/sandboxes/${s.id}`);
  }, 180_000);

  it.skipIf(skip)('refuses a snapshot past snapshot_max_mb and leaves nothing behind; the sandbox is unharmed', async () => {
    await clearSnapshots();
    const s = await create({ limits: { memory_mb: 256, disk_mb: 64 } });
    await sh(s.id, `head -c ${(CAP_MB + 1) * 1024 * 1024} /dev/urandom > /work/big`);
    expectProblem(await r.api('POST', `/v1/sandboxes/${s.id}/snapshots`), 413, 'snapshot_too_large');
    expect(snapshotFiles()).toEqual([]);
    expect(await sh(s.id, 'echo still')).toBe('still\n');
    await r.api('DELETE', `/v1/sandboxes/${s.id}`);
  }, 120_000);

  it.skipIf(skip)("keeps snapshots to their owner, counts them against max_snapshots, and checks fork counts", async () => {
    await clearSnapshots();
    const other = (await createToken(r.rt.store, `other-${name}`, ['sandboxes:read', 'sandboxes:write'])).token;
    const s = await create();
    const taken: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await r.api('POST', `/v1/sandboxes/${s.id}/snapshots`);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      taken.push(res.body.id);
    }
    expectProblem(await r.api('POST', `/v1/sandboxes/${s.id}/snapshots`), 429, 'quota_exceeded');
    const list = await r.api('GET', '/v1/snapshots?limit=2');
    expect(list.body.items.map((x: Json) => x.id)).toEqual([taken[2], taken[1]]);
    expect(list.body.next_cursor).toBe(taken[1]);
    // Another token sees none of them: the same 404 as a missing id.
    expectProblem(await request(r, 'GET', `/v1/snapshots/${taken[0]}`, { token: other }), 404, 'not_found');
    expectProblem(await request(r, 'DELETE', `/v1/snapshots/${taken[0]}`, { token: other }), 404, 'not_found');
    expect((await request(r, 'GET', '/v1/snapshots', { token: other })).body.items).toEqual([]);
    expectProblem(await r.api('GET', '/v1/snapshots/snap_../../etc'), 400, 'validation_failed');
    expectProblem(await r.api('POST', '/v1/sandboxes', { snapshot: '../x' }), 400, 'validation_failed');
    for (const id of taken) expect((await r.api('DELETE', `/v1/snapshots/${id}`)).status).toBe(204);
    expectProblem(await r.api('POST', `/v1/sandboxes/${s.id}/fork`, { count: 3 }), 400, 'validation_failed', /max_forks/);
    expectProblem(await r.api('POST', `/v1/sandboxes/${s.id}/fork`, { count: 0 }), 400, 'validation_failed');
    await r.api('DELETE', `/v1/sandboxes/${s.id}`);
  }, 120_000);
});
