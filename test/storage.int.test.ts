import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import { closeWithin, expectProblem, getJob, type Json, sh, submit, waitForJob } from './helpers/api.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// Bounded disk: output stored once as bytes in batches, retention, a free-space
// floor (507 storage_full), and a full disk that fails only the job it hit.
const MiB = 1024 * 1024;
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli/main.js');
const root = process.getuid?.() === 0;
const skipMount = !root && process.env.CI !== 'true';
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The runner's database, read (and checkpointed) through a second connection. */
function db(dataDir: string): SQLite.Database {
  return new SQLite(path.join(dataDir, 'paddock.db'));
}

/** Bytes the database takes on disk once its WAL is checkpointed into it. */
function diskBytes(dataDir: string): number {
  const d = db(dataDir);
  try {
    d.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    d.close();
  }
  const size = (f: string) => {
    try {
      return statSync(path.join(dataDir, f)).size;
    } catch {
      return 0;
    }
  };
  return size('paddock.db') + size('paddock.db-wal');
}

function outputRows(dataDir: string, jobId: string): { rows: number; bytes: number } {
  const d = db(dataDir);
  try {
    return d
      .prepare(
        `select count(*) as rows, coalesce(sum(length(bytes)), 0) + coalesce(sum(length(data)), 0) as bytes
         from job_events where job_id = ? and type in ('stdout', 'stderr')`,
      )
      .get(jobId) as { rows: number; bytes: number };
  } finally {
    d.close();
  }
}

describe('output storage', () => {
  let r: TestRunner;
  beforeAll(async () => {
    r = await startTestRunner({ limits: { default: { output_bytes: 2 * MiB } }, storage: { min_free_mb: 0, reserve_mb: 0 } });
  });
  afterAll(() => closeWithin(r));

  for (const [name, script] of [
    ['NULs', 'head -c 1048576 /dev/zero'],
    ['random bytes', 'head -c 1048576 /dev/urandom'],
  ] as const) {
    it(`1 MiB of ${name} costs at most 1.2 MiB on disk`, async () => {
      await submit(r, sh('true'), { wait: true }); // the first job's one-off growth is not counted
      const before = diskBytes(r.dataDir);
      const job = await submit(r, sh(script), { wait: true });
      expect(job).toMatchObject({ state: 'succeeded', result: { stdout_truncated: false } });
      const grown = diskBytes(r.dataDir) - before;
      const stored = outputRows(r.dataDir, job.id);
      console.log(`1 MiB of ${name}: database grew by ${grown} bytes; output rows ${stored.rows}, ${stored.bytes} bytes`);
      expect(stored.bytes).toBe(MiB); // stored once, not also in the result
      expect(grown).toBeLessThanOrEqual(1.2 * MiB);
      const row = db(r.dataDir).prepare('select length(result) as n from jobs where id = ?').get(job.id) as { n: number };
      expect(row.n).toBeLessThan(1000);
    });
  }

  it('stores output byte for byte and serves it from GET /v1/jobs/:id', async () => {
    const expected = Buffer.concat(Array.from({ length: 1024 }, () => Buffer.from(Array.from({ length: 256 }, (_, i) => i))));
    const job = await submit(
      r,
      sh(`/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 1024); sys.stderr.write("h\\u00e9llo \\u2603 w\\u00f6rld\\n" * 5000)'`),
      { wait: true },
    );
    expect(job.state).toBe('succeeded');
    const out = await r.rt.store.readOutput(job.id, 2 * MiB);
    expect(out.stdout.equals(expected)).toBe(true);
    const text = 'héllo ☃ wörld\n'.repeat(5000);
    expect(out.stderr.toString('utf8')).toBe(text);
    // UTF-8 round-trips exactly through the API; so does the stored text of the wait response.
    expect(job.result.stderr).toBe(text);
    expect((await getJob(r, job.id)).result.stderr).toBe(text);
    expect((await getJob(r, job.id)).result.stdout).toBe(new TextDecoder().decode(expected));
  });

  it('alternating 1-byte writes to stdout and stderr make a bounded number of rows', async () => {
    const script =
      `/usr/bin/python3 -c 'import os, time\n` +
      `end = time.time() + 2\nn = 0\n` +
      `while time.time() < end:\n os.write(1, b"o"); os.write(2, b"e"); n += 1\n time.sleep(0.0001)\n'`;
    const job = await submit(r, sh(script), { wait: true });
    expect(job.state).toBe('succeeded');
    expect(job.result.stdout.length).toBeGreaterThan(2000);
    expect(job.result.stdout).toBe('o'.repeat(job.result.stdout.length));
    expect(job.result.stderr.length).toBe(job.result.stdout.length);
    const { rows } = outputRows(r.dataDir, job.id);
    const perSecond = rows / (job.result.wall_ms / 1000);
    console.log(`alternating writer: ${job.result.stdout.length} writes per stream, ${rows} rows, ${perSecond.toFixed(1)} rows/s`);
    expect(perSecond).toBeLessThanOrEqual(30);
  });
});

describe('retention', () => {
  let r: TestRunner;
  beforeAll(async () => {
    r = await startTestRunner({
      max_concurrent_jobs: 1,
      storage: { min_free_mb: 0, reserve_mb: 0 },
      retention: { max_age: '1500ms', interval_ms: 200, max_jobs: 0 },
    });
  });
  afterAll(() => closeWithin(r));

  const eventsOf = (id: string) =>
    (db(r.dataDir).prepare('select count(*) as n from job_events where job_id = ?').get(id) as { n: number }).n;

  it('prunes old finished jobs with their events in the background, never running or queued ones', async () => {
    const done = await submit(r, sh('echo old'), { wait: true });
    expect(eventsOf(done.id)).toBeGreaterThan(0);
    const running = await submit(r, sh('echo started; sleep 8'));
    const queued = await submit(r, sh('echo later'));
    await waitForJob(r, running.id, (j) => j.state === 'running');
    const deadline = Date.now() + 5000;
    while ((await r.api('GET', `/v1/jobs/${done.id}`)).status !== 404) {
      expect(Date.now() < deadline, 'the old finished job was pruned').toBe(true);
      await sleep(100);
    }
    expect(eventsOf(done.id)).toBe(0);
    expect((await getJob(r, running.id)).state).toBe('running');
    expect((await getJob(r, queued.id)).state).toBe('queued');
    await r.api('POST', `/v1/jobs/${running.id}/cancel`);
  });
});

describe('paddock jobs prune', () => {
  let r: TestRunner;
  beforeAll(async () => {
    r = await startTestRunner({ max_concurrent_jobs: 1, storage: { min_free_mb: 0, reserve_mb: 0 } });
  });
  afterAll(() => closeWithin(r));

  it('keeps the newest N finished jobs, and --older-than prunes by age; running ones stay', async () => {
    const finished: Json[] = [];
    for (let i = 0; i < 4; i++) finished.push(await submit(r, sh(`echo ${i}`), { wait: true }));
    const running = await submit(r, sh('sleep 20'));
    await waitForJob(r, running.id, (j) => j.state === 'running');
    // Asynchronously: the runner lives in this process.
    const prune = async (...args: string[]) =>
      (await run(process.execPath, [CLI, 'jobs', 'prune', '--url', r.url, '--token', r.token, ...args])).stdout;
    expect(await prune('--keep', '1')).toMatch(/^deleted 3 jobs \(\d+ events\)/);
    for (const j of finished.slice(0, 3)) expect((await r.api('GET', `/v1/jobs/${j.id}`)).status).toBe(404);
    expect((await getJob(r, finished[3]!.id)).state).toBe('succeeded');
    expect(await prune('--older-than', '1h')).toMatch(/^deleted 0 jobs/);
    expect(await prune('--older-than', '0s')).toMatch(/^deleted 1 jobs/);
    expect((await getJob(r, running.id)).state).toBe('running');
    // Admin only: a jobs:write token may not prune.
    const { token } = await createToken(r.rt.store, 'writer', ['jobs:read', 'jobs:write']);
    const denied = await fetch(`${r.url}/v1/jobs/prune`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ keep: 0 }),
    });
    expect(denied.status).toBe(403);
    expect((await getJob(r, running.id)).state).toBe('running');
    await r.api('POST', `/v1/jobs/${running.id}/cancel`);
  });
});

/** A small tmpfs for a data dir, so the test can fill the disk under a runner. */
function smallDisk(sizeMb: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir]);
  return dir;
}

function fill(dir: string): void {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'fill')}`, 'bs=64k'], { stdio: 'ignore' });
  } catch {
    // dd ends with ENOSPC: that is the point.
  }
}

describe.skipIf(skipMount)('a full disk', () => {
  const mounts: string[] = [];
  beforeAll(() => {
    if (!root) throw new Error('full-disk tests mount a tmpfs and need root');
  });
  afterAll(() => {
    for (const dir of mounts) {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails the job it hit (storage_full), keeps the runner up, refuses submits (507) and recovers', async () => {
    const dir = smallDisk(8);
    mounts.push(dir);
    const r = await startTestRunner({
      data_dir: dir,
      storage: { min_free_mb: 1, reserve_mb: 1 },
      limits: { default: { output_bytes: 64 * MiB, timeout_ms: 60_000 } },
    });
    try {
      expect((await r.api('GET', '/health')).body).toMatchObject({ status: 'ok', problems: [] });
      const job = await submit(r, sh('while :; do head -c 65536 /dev/urandom; sleep 0.05; done'));
      await waitForJob(r, job.id, (j) => j.state === 'running');
      await sleep(300);
      fill(dir);
      const ended = await waitForJob(r, job.id, (j) => j.state !== 'running', 20_000);
      expect(ended).toMatchObject({ state: 'failed', reason: 'storage_full', error: { code: 'storage_full' } });

      const refused = await r.api('POST', '/v1/jobs', sh('echo hi'));
      expectProblem(refused, 507, 'storage_full');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      const health = (await r.api('GET', '/health')).body;
      expect(health.status).toBe('degraded');
      expect(health.problems.join(' ')).toMatch(/storage_(full|low)/);
      expect((await getJob(r, job.id)).state).toBe('failed'); // reads still work

      rmSync(path.join(dir, 'fill'));
      const deadline = Date.now() + 10_000;
      while ((await r.api('GET', '/health')).body.status !== 'ok') {
        expect(Date.now() < deadline, 'health is ok again once space is back').toBe(true);
        await sleep(200);
      }
      const again = await submit(r, sh('echo back'), { wait: true });
      expect(again).toMatchObject({ state: 'succeeded', result: { stdout: 'back\n' } });
    } finally {
      await closeWithin(r);
    }
  });

  it('with no floor, a submit that hits the full disk is 507 storage_full, never 500', async () => {
    const dir = smallDisk(8);
    mounts.push(dir);
    const r = await startTestRunner({ data_dir: dir, storage: { min_free_mb: 0, reserve_mb: 0 } });
    try {
      fill(dir);
      // Each submit stores ~0.5 MiB (its stdin); the WAL may still have room for a few.
      let res;
      for (let i = 0; i < 40; i++) {
        res = await r.api('POST', '/v1/jobs', sh('true', { stdin: 'x'.repeat(512 * 1024) }));
        if (res.status !== 201) break;
      }
      expectProblem(res!, 507, 'storage_full');
      expect(res!.body.detail).not.toMatch(/rollback/);
      expect(Number(res!.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await r.api('GET', '/health')).body.status).toBe('degraded');
      rmSync(path.join(dir, 'fill'));
      const deadline = Date.now() + 10_000;
      while ((await r.api('GET', '/health')).body.status !== 'ok') {
        expect(Date.now() < deadline, 'health is ok again once space is back').toBe(true);
        await sleep(200);
      }
      expect(await submit(r, sh('echo back'), { wait: true })).toMatchObject({ state: 'succeeded' });
    } finally {
      await closeWithin(r);
    }
  });

  it('a restart while the disk is full does not crash-loop and recovers when space returns', async () => {
    const dir = smallDisk(8);
    mounts.push(dir);
    const env = { PADDOCK_STORAGE__MIN_FREE_MB: '1', PADDOCK_STORAGE__RESERVE_MB: '1' };
    let server: ServerProcess = await startServerProcess(dir, env);
    try {
      const first = await server.api('POST', '/v1/jobs?wait=true', sh('echo before'));
      expect(first.body).toMatchObject({ state: 'succeeded' });
      expect((await stopServerProcess(server, 'SIGTERM')).code).toBe(0);

      fill(dir);
      server = await startServerProcess(dir, env);
      await sleep(2000);
      expect(server.proc.exitCode, server.stderr()).toBeNull();
      const health = (await server.api('GET', '/health')).body;
      expect(health.status).toBe('degraded');
      expect(health.problems.join(' ')).toMatch(/storage_/);
      expectProblem(await server.api('POST', '/v1/jobs', sh('echo hi')), 507, 'storage_full');
      expect((await server.api('GET', `/v1/jobs/${first.body.id}`)).body).toMatchObject({
        state: 'succeeded',
        result: { stdout: 'before\n' },
      });

      rmSync(path.join(dir, 'fill'));
      const deadline = Date.now() + 20_000;
      for (;;) {
        const res = await server.api('POST', '/v1/jobs?wait=true', sh('echo after'));
        if (res.status === 201) {
          expect(res.body).toMatchObject({ state: 'succeeded', result: { stdout: 'after\n' } });
          break;
        }
        // 503: a driver probe that failed for want of space is not repeated yet.
        expect([507, 503], JSON.stringify(res.body)).toContain(res.status);
        expect(Date.now() < deadline, 'submits work again once space is back').toBe(true);
        await sleep(300);
      }
      expect((await server.api('GET', '/health')).body.status).toBe('ok');
      expect(server.proc.exitCode).toBeNull();
    } finally {
      await stopServerProcess(server, 'SIGTERM');
    }
  });

  it('kill -9 with a job running, restart on a full disk: the job is recovered once space returns', async () => {
    const dir = smallDisk(8);
    mounts.push(dir);
    const env = { PADDOCK_STORAGE__MIN_FREE_MB: '1', PADDOCK_STORAGE__RESERVE_MB: '0' };
    let server: ServerProcess = await startServerProcess(dir, env);
    try {
      const job = (await server.api('POST', '/v1/jobs', sh('sleep 30'))).body;
      const deadline0 = Date.now() + 10_000;
      while ((await server.api('GET', `/v1/jobs/${job.id}`)).body.state !== 'running') {
        expect(Date.now() < deadline0).toBe(true);
        await sleep(100);
      }
      await stopServerProcess(server, 'SIGKILL');
      fill(dir);
      server = await startServerProcess(dir, env);
      await sleep(2000);
      expect(server.proc.exitCode, server.stderr()).toBeNull();
      expect((await server.api('GET', '/health')).body.status).toBe('degraded');
      const during = (await server.api('GET', `/v1/jobs/${job.id}`)).body.state;
      console.log(`job left running, after a restart on the full disk: ${during}`);
      rmSync(path.join(dir, 'fill'));
      const deadline = Date.now() + 15_000;
      for (;;) {
        const j = (await server.api('GET', `/v1/jobs/${job.id}`)).body;
        if (j.state !== 'running') {
          expect(j).toMatchObject({ state: 'failed', reason: 'runner_restarted' });
          break;
        }
        expect(Date.now() < deadline, 'the job left running is recovered once space is back').toBe(true);
        await sleep(200);
      }
      expect(server.proc.exitCode).toBeNull();
    } finally {
      await stopServerProcess(server, 'SIGTERM');
    }
  });
});
