import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dockerMissing } from './helpers/docker.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { type Job, removeRunnerState, sleep, submitJob, waitForJob } from './helpers/sandbox.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// Why a job ended must be what really happened to it, whatever the driver or the runner went through.
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out'];
const ended = (j: Job) => TERMINAL.includes(j.state);
const missing = await dockerMissing();
const skipDocker = !!missing && process.env.CI !== 'true';

describe('reasons on bwrap', () => {
  let r: TestRunner;
  beforeAll(async () => {
    r = await startTestRunner({ max_concurrent_jobs: 2 });
  });
  afterAll(async () => {
    await r?.close();
    if (r) removeRunnerState(r.dataDir);
  });

  it('output past the cap ends output_limit every time, even when the writer exits 1 on EPIPE', async () => {
    // The command is pid 1 of its namespace, which ignores SIGPIPE: head sees EPIPE and exits 1.
    const jobs = await Promise.all(
      Array.from({ length: 10 }, () => submitJob(r.api, { script: 'head -c 3000000 /dev/zero' }, true)),
    );
    for (const job of jobs) {
      expect({ state: job.state, reason: job.reason, limit: job.result?.limit }).toEqual({
        state: 'failed',
        reason: 'output_limit',
        limit: 'output',
      });
      expect(job.result!.stdout_truncated).toBe(true);
    }
  });

  it('a job past the cap that then exits 0 is still output_limit', async () => {
    const job = await submitJob(r.api, { script: 'head -c 2000000 /dev/zero 2>/dev/null; exit 0', limits: { output_bytes: 1000 } });
    expect({ state: job.state, reason: job.reason }).toEqual({ state: 'failed', reason: 'output_limit' });
  });

  it('a succeeded job says exit_code, as the README does', async () => {
    const job = await submitJob(r.api, { command: ['true'] });
    expect({ state: job.state, reason: job.reason }).toEqual({ state: 'succeeded', reason: 'exit_code' });
  });
});

describe.skipIf(skipDocker)('output_limit on container drivers', () => {
  let r: TestRunner;
  beforeAll(async () => {
    if (missing) throw new Error(`container driver tests cannot run: ${missing}`);
    r = await startTestRunner({ drivers: ['gvisor', 'docker'], images_dir: process.env.PADDOCK_IMAGES_DIR ?? '' });
  }, 120_000);
  afterAll(async () => {
    await r?.close();
    if (r) removeRunnerState(r.dataDir);
  });

  for (const driver of ['docker', 'gvisor']) {
    it(`${driver}: head -c 3000000 /dev/zero ends output_limit 3 times out of 3`, async () => {
      for (let i = 0; i < 3; i++) {
        const job = await submitJob(r.api, { driver, script: 'head -c 3000000 /dev/zero' });
        expect({ state: job.state, reason: job.reason }, JSON.stringify(job.error)).toEqual({ state: 'failed', reason: 'output_limit' });
      }
    }, 60_000);
  }
});

describe('a runner paused past a deadline', () => {
  const servers: ServerProcess[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.proc.kill('SIGCONT');
      await stopServerProcess(s, 'SIGKILL', 5000);
    }
  });
  afterAll(() => dirs.forEach(removeRunnerState));

  it('does not record jobs that ended within their time as timed_out (SIGSTOP for 10 s)', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-pause-'));
    dirs.push(dataDir);
    const server = await startServerProcess(dataDir, {}, ['--max-concurrent-jobs', '2']);
    servers.push(server);
    const jobs = [];
    for (let i = 0; i < 2; i++) {
      jobs.push(await submitJob(server.api, { command: ['sleep', '2'], limits: { timeout_ms: 4000 } }, false));
    }
    for (const job of jobs) await waitForJob(server.api, job.id, (j) => j.state === 'running', 10_000);
    // `running` is set at the claim; give the sandboxes time to really start sleeping.
    await sleep(700);
    server.proc.kill('SIGSTOP');
    await sleep(10_000);
    server.proc.kill('SIGCONT');
    for (const job of jobs) {
      const done = await waitForJob(server.api, job.id, ended, 15_000);
      expect({ state: done.state, reason: done.reason, exit: done.result?.exit_code }).toEqual({
        state: 'succeeded',
        reason: 'exit_code',
        exit: 0,
      });
    }
    // A job that really runs past its deadline is still timed out.
    const slow = await submitJob(server.api, { command: ['sleep', '30'], limits: { timeout_ms: 1000 } });
    expect({ state: slow.state, reason: slow.reason }).toEqual({ state: 'timed_out', reason: 'timeout' });
  }, 60_000);
});
