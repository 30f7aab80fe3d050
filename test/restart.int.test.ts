import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type Api,
  expectHealthy,
  hostUserEnv,
  type Job,
  leftoverProcesses,
  processesOfUid,
  removeRunnerState,
  sleep,
  submitJob,
  waitForJob,
} from './helpers/sandbox.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';
import { cgroupGroup } from '../src/sandbox/runner-id.js';

// The real CLI (`node dist/cli/main.js serve`, built by `npm run build`) as a separate
// process, killed and restarted on the same data dir.
const UID = 61203;
const ENV = hostUserEnv(UID);
const ARGS = ['--max-concurrent-jobs', '2'];
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out'];
const ended = (j: Job) => TERMINAL.includes(j.state);

const dirs: string[] = [];
const servers: ServerProcess[] = [];

async function start(dataDir: string): Promise<ServerProcess> {
  const server = await startServerProcess(dataDir, ENV, ARGS);
  servers.push(server);
  return server;
}

function newDataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-restart-'));
  dirs.push(dir);
  return dir;
}

/** Submits a `sleep 300` job and a quick retry_on_restart job, and waits until both sandboxes run. */
async function startTwoJobs(api: Api): Promise<{ plain: Job; retry: Job }> {
  const plain = await submitJob(api, { command: ['sleep', '300'] }, false);
  // A fresh tmpfs per attempt, so the retry cannot tell attempts apart: it just finishes in a few seconds.
  const retry = await submitJob(api, { script: 'sleep 5; echo done', retry_on_restart: true }, false);
  for (const job of [plain, retry]) await waitForJob(api, job.id, (j) => j.state === 'running', 15_000);
  const deadline = Date.now() + 10_000;
  while (processesOfUid(UID).filter((p) => p.name === 'sleep').length < 2) {
    if (Date.now() > deadline) throw new Error(`sandboxes not running: ${JSON.stringify(processesOfUid(UID))}`);
    await sleep(50);
  }
  return { plain, retry };
}

afterEach(async () => {
  // Whatever a failed test left running.
  for (const s of servers.splice(0)) await stopServerProcess(s, 'SIGKILL', 5000);
});
afterAll(() => {
  for (const dir of dirs) removeRunnerState(dir);
});

/**
 * Starts the runner again on `dataDir`: the plain job must have ended failed with
 * `reason`, the retry_on_restart job must have run again and succeeded.
 */
async function restartAndCheck(dataDir: string, plainId: string, retryId: string, reason: string) {
  const server = await start(dataDir);
  const failed = await waitForJob(server.api, plainId, ended);
  expect({ state: failed.state, reason: failed.reason }).toEqual({ state: 'failed', reason });
  const retried = await waitForJob(server.api, retryId, ended, 40_000);
  expect(retried.state, JSON.stringify(retried)).toBe('succeeded');
  expect(retried.attempts).toBe(2);
  // Its end is this attempt's, not the restart that requeued it.
  expect(retried.reason).toBe('exit_code');
  expect(retried.result!.stdout).toBe('done\n');
  return server;
}

describe('runner restart', () => {
  it('kill -9: sandboxes die with the runner; on restart jobs fail runner_restarted or are retried', async () => {
    const dataDir = newDataDir();
    let server = await start(dataDir);
    const { plain, retry } = await startTwoJobs(server.api);

    const killed = await stopServerProcess(server, 'SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    // --die-with-parent takes every sandbox down with the runner.
    expect(await leftoverProcesses(UID, 2500)).toEqual([]);

    server = await restartAndCheck(dataDir, plain.id, retry.id, 'runner_restarted');

    // The reaper removed the cgroups the killed process left behind.
    const group = cgroupGroup(dataDir);
    for (const c of ['pids', 'memory', 'cpuacct']) {
      expect(existsSync(path.join('/sys/fs/cgroup', c, group, plain.id))).toBe(false);
    }
    await expectHealthy(server.api, UID);
    expect((await stopServerProcess(server, 'SIGTERM')).code).toBe(0);
  }, 120_000);

  it('SIGTERM: exits 0, running jobs end runner_shutdown (or are requeued and run again)', async () => {
    const dataDir = newDataDir();
    let server = await start(dataDir);
    const { plain, retry } = await startTwoJobs(server.api);

    const stopped = await stopServerProcess(server, 'SIGTERM');
    expect({ code: stopped.code, signal: stopped.signal }, server.stderr()).toEqual({ code: 0, signal: null });
    expect(stopped.ms).toBeLessThan(15_000);
    expect(await leftoverProcesses(UID, 2500)).toEqual([]);

    server = await restartAndCheck(dataDir, plain.id, retry.id, 'runner_shutdown');
    await expectHealthy(server.api, UID);
    expect((await stopServerProcess(server, 'SIGTERM')).code).toBe(0);
  }, 120_000);

  it('SIGTERM while a client waits on ?wait=true: exits 0 promptly and answers the client', async () => {
    const dataDir = newDataDir();
    const server = await start(dataDir);
    const waiting = submitJob(server.api, { command: ['sleep', '300'] }, true).then(
      (job) => job,
      (err: Error) => err,
    );
    const deadline = Date.now() + 15_000;
    while (processesOfUid(UID).filter((p) => p.name === 'sleep').length < 1) {
      if (Date.now() > deadline) throw new Error('sandbox did not start');
      await sleep(50);
    }

    const stopped = await stopServerProcess(server, 'SIGTERM');
    expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 0, signal: null });
    expect(stopped.ms).toBeLessThan(15_000);
    const answer = await waiting;
    expect(answer).not.toBeInstanceOf(Error);
    expect({ state: (answer as Job).state, reason: (answer as Job).reason }).toEqual({
      state: 'failed',
      reason: 'runner_shutdown',
    });
    expect(await leftoverProcesses(UID, 2500)).toEqual([]);
  }, 120_000);
});
