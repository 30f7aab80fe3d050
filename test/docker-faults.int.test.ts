import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BASE_IMAGE, closeRunner, docker, dockerMissing, expectDriverHealthy, jobHostname, pollUntil, PrivateDockerd,
  removeRunnerContainers, runnerContainers,
} from './helpers/docker.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { type Api, hostUser, hostUserEnv, type Job, removeRunnerState, sleep, submitJob, waitForJob } from './helpers/sandbox.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// What the Docker drivers do when the runner or the Docker Engine dies under them.
const UID = 61211;
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out'];
const ended = (j: Job) => TERMINAL.includes(j.state);
const missing = await dockerMissing();
const skip = !!missing && process.env.CI !== 'true';
const prerequisites = () => {
  if (missing) throw new Error(`Docker fault tests cannot run: ${missing}`);
};

/**
 * Submits `echo ok` on `driver` until one succeeds. Refusals (422 while the runner
 * still counts the driver as failed) and failed jobs are retried; a job that never
 * ends fails the test at once: no retry may hide a hang.
 */
async function untilJobsWork(api: Api, driver: string, ms: number): Promise<unknown[]> {
  const tries: unknown[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    // Default limits on purpose: the job a warm pool serves (its timeout is 60 s, so 70 s means never).
    const res = await api('POST', '/v1/jobs', { kind: 'command', driver, command: ['echo', 'ok'] });
    if (res.status === 201) {
      const job = await waitForJob(api, res.body.id, ended, 70_000);
      tries.push({ state: job.state, reason: job.reason, error: job.error });
      if (job.state === 'succeeded' && job.result?.stdout === 'ok\n') return tries;
    } else {
      expect(res.body.code, JSON.stringify(res.body)).toBe('driver_unavailable');
      tries.push({ status: res.status, detail: res.body.detail });
    }
    if (Date.now() > deadline) throw new Error(`${driver} jobs still fail after ${ms} ms: ${JSON.stringify(tries.slice(-3))}`);
    await sleep(1000);
  }
}

describe.skipIf(skip)('orphan reaper', () => {
  const ENV = {
    PADDOCK_DRIVERS: 'docker,gvisor,bwrap',
    ...hostUserEnv(UID),
  };
  const ARGS = ['--max-concurrent-jobs', '2'];
  const servers: ServerProcess[] = [];
  let dataDir = '';
  const start = async () => {
    const server = await startServerProcess(dataDir, ENV, ARGS);
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    for (const s of servers.splice(0)) await stopServerProcess(s, 'SIGKILL', 5000);
  });
  afterAll(async () => {
    if (!dataDir) return;
    await removeRunnerContainers(dataDir);
    removeRunnerState(dataDir);
  });

  it('kill -9 leaves the containers in Docker; the restarted server reaps them and fails the job', async () => {
    prerequisites();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-reaper-'));
    let server = await start();
    // Both warm pools (gvisor and docker, two each) are up before the crash.
    await pollUntil(() => runnerContainers(dataDir, { pool: true }), (l) => l.length >= 4, 60_000, 'warm pools');
    const job = await submitJob(server.api, { driver: 'docker', script: 'hostname; exec sleep 300' }, false);
    const host = await jobHostname(server.api, job.id);

    const killed = await stopServerProcess(server, 'SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    await sleep(1000);
    const left = await runnerContainers(dataDir);
    // Docker keeps them: the job's container and the idle pool containers are still there.
    expect(left.some((c) => c.id.startsWith(host)), `job container ${host}`).toBe(true);
    expect(left.filter((c) => c.labels['paddock.pool']).length).toBeGreaterThanOrEqual(3);
    // But nothing in them runs on unsupervised: each agent's channel was the dead runner's attach, so it ended.
    await pollUntil(() => runnerContainers(dataDir), (l) => l.every((c) => !c.running), 20_000, 'containers stopped by themselves');

    const restarted = Date.now();
    server = await start();
    const old = new Set(left.map((c) => c.id));
    await pollUntil(() => runnerContainers(dataDir), (l) => !l.some((c) => old.has(c.id)), 10_000, 'old containers reaped');
    expect(Date.now() - restarted).toBeLessThan(20_000);
    const failed = await waitForJob(server.api, job.id, ended, 10_000);
    expect({ state: failed.state, reason: failed.reason }).toEqual({ state: 'failed', reason: 'runner_restarted' });

    for (const driver of ['docker', 'gvisor']) await expectDriverHealthy(server.api, driver);
    const stopped = await stopServerProcess(server, 'SIGTERM');
    expect(stopped.code, server.stderr()).toBe(0);
    expect(await runnerContainers(dataDir)).toEqual([]);
  }, 180_000);
});

// The machine's dockerd is shared with other work, so this test stops and starts
// a dockerd of its own (see PrivateDockerd) and points the runner's docker.socket at it.
describe.skipIf(skip)('Docker Engine stopped under a running job', () => {
  let dockerd: PrivateDockerd | undefined;
  let r: TestRunner | undefined;

  beforeAll(async () => {
    prerequisites();
    dockerd = new PrivateDockerd();
    await dockerd.start();
    dockerd.copyImage(BASE_IMAGE);
    r = await startTestRunner({
      drivers: ['docker', 'gvisor', 'bwrap'],
      docker: { socket: dockerd.socket },
      max_concurrent_jobs: 3,
      ...hostUser(UID),
    });
  }, 180_000);

  afterAll(async () => {
    // Always: the Engine comes back and everything of this test goes, whatever failed above.
    try {
      await closeRunner(r, 30_000);
    } finally {
      await dockerd?.destroy();
      if (r) removeRunnerState(r.dataDir);
    }
  }, 120_000);

  it('the job fails driver_error, bwrap keeps working, docker jobs work again once dockerd is back', async () => {
    const api = r!.api;
    expect((await submitJob(api, { driver: 'docker', command: ['echo', 'ok'] })).state).toBe('succeeded');
    const job = await submitJob(api, { driver: 'docker', script: 'hostname; exec sleep 30' }, false);
    await jobHostname(api, job.id);

    await dockerd!.stop(); // SIGTERM, as `pkill -x dockerd` sends; waits until the socket is dead
    const done = await waitForJob(api, job.id, ended, 60_000);
    // Soft: the steps below are worth seeing whatever this job reported.
    expect.soft({ state: done.state, reason: done.reason }, JSON.stringify(done)).toEqual({ state: 'failed', reason: 'driver_error' });
    expect.soft(done.error?.message ?? '', 'error message').toMatch(/\w{4}/);

    const bwrap = await submitJob(api, { driver: 'bwrap', command: ['echo', 'ok'] });
    expect({ state: bwrap.state, stdout: bwrap.result?.stdout }).toEqual({ state: 'succeeded', stdout: 'ok\n' });
    expect((await api('GET', '/health')).status).toBe(200);

    await dockerd!.start(); // like scripts/install-docker.sh without systemd: nohup dockerd >log 2>&1 &
    for (const driver of ['docker', 'gvisor']) await untilJobsWork(api, driver, 30_000);
  }, 240_000);
});

describe.skipIf(skip)('periodic reaper', () => {
  let r: TestRunner | undefined;
  afterAll(async () => {
    await closeRunner(r);
    if (r) {
      await removeRunnerContainers(r.dataDir);
      removeRunnerState(r.dataDir);
    }
  }, 120_000);

  it('removes a leaked container of this runner while the runner runs, and nothing it owns', async () => {
    prerequisites();
    r = await startTestRunner({ drivers: ['docker'], ...hostUser(UID) });
    const pool = await pollUntil(() => runnerContainers(r!.dataDir, { pool: true }), (c) => c.length === 2, 60_000, 'pool filled');
    // A container with this runner's labels that no part of it owns, as a crash mid-create would leave.
    const labels = Object.fromEntries(Object.entries(pool[0]!.labels).filter(([k]) => k !== 'paddock.pool'));
    const leaked = await docker.createContainer({ Image: BASE_IMAGE, Cmd: ['true'], Labels: { ...labels, 'paddock.job': 'job_gone' } });
    const driver = r.rt.drivers.get('docker') as unknown as { reapOrphans(minAgeS?: number): Promise<number> };
    // Too young for a periodic pass: it might be one being created.
    expect(await driver.reapOrphans(30)).toBe(0);
    expect(await driver.reapOrphans(0)).toBe(1);
    expect(await docker.getContainer(leaked.id).inspect().then(() => true, () => false)).toBe(false);
    const after = (await runnerContainers(r.dataDir, { pool: true })).map((c) => c.id).sort();
    expect(after).toEqual(pool.map((c) => c.id).sort());
  }, 120_000);
});
