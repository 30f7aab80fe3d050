import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  cancel,
  closeWithin,
  cmd,
  expectProblem,
  getJob,
  type Json,
  sh,
  startedJob,
  submit,
  waitForJob,
} from './helpers/api.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { waitForJob as waitForServerJob } from './helpers/sandbox.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';
import { readEvents } from './helpers/sse.js';

// Admission control: a capped queue (429 queue_full), queue deadlines (expired), ?wait=true that
// says when it ran out (202), and a /health that stays fast under a burst.

const MAX_QUEUED = 3;
let r: TestRunner; // one slot, a queue of three
let slowSweep: TestRunner; // the expiry sweep never comes in time: only the claim's check is left

beforeAll(async () => {
  [r, slowSweep] = await Promise.all([
    startTestRunner({ max_concurrent_jobs: 1, queue: { max_queued: MAX_QUEUED, max_timeout_ms: 60_000, sweep_ms: 100 } }),
    startTestRunner({ max_concurrent_jobs: 1, queue: { sweep_ms: 600_000 } }),
  ]);
});
afterAll(async () => {
  await Promise.all([closeWithin(r), closeWithin(slowSweep)]);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('queue.max_queued', () => {
  test('a submit past the cap is 429 queue_full with Retry-After; a freed place is taken again', async () => {
    const blocker = await startedJob(r);
    const queued: Json[] = [];
    try {
      for (let i = 0; i < MAX_QUEUED; i++) queued.push(await submit(r, cmd(['true'])));
      expect((await r.api('GET', '/health')).body.queueLength).toBe(MAX_QUEUED);
      const refused = await r.api('POST', '/v1/jobs', cmd(['true']));
      expectProblem(refused, 429, 'queue_full');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(refused.body.limit).toBe(MAX_QUEUED);
      // A refused submit stored nothing.
      expect((await r.api('GET', '/v1/jobs?state=queued')).body.jobs).toHaveLength(MAX_QUEUED);
      await cancel(r, queued.shift()!.id);
      expect((await r.api('GET', '/health')).body.queueLength).toBe(MAX_QUEUED - 1);
      queued.push(await submit(r, cmd(['true'])));
    } finally {
      await cancel(r, blocker.id);
    }
    for (const job of queued) expect((await waitForJob(r, job.id)).state).toBe('succeeded');
    expect((await r.api('GET', '/health')).body.queueLength).toBe(0);
  });

  test('a burst of concurrent submits never overshoots the cap', async () => {
    const blocker = await startedJob(r);
    let accepted: Json[] = [];
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => r.api('POST', '/v1/jobs', cmd(['true']))));
      const statuses = answers.map((a) => a.status);
      accepted = answers.filter((a) => a.status === 201).map((a) => a.body);
      expect(statuses.filter((s) => s === 201)).toHaveLength(MAX_QUEUED);
      expect(statuses.filter((s) => s === 429)).toHaveLength(20 - MAX_QUEUED);
    } finally {
      await cancel(r, blocker.id);
      for (const job of accepted) await waitForJob(r, job.id);
    }
  });
});

describe('queue_timeout_ms', () => {
  test('a job not started in time ends expired (queue_timeout) and never runs', async () => {
    const blocker = await startedJob(r);
    let job: Json;
    try {
      job = await submit(r, sh('echo must-not-run', { queue_timeout_ms: 300 }));
      const expired = await waitForJob(r, job.id, (j) => j.state === 'expired', 5_000);
      expect(expired).toMatchObject({ state: 'expired', reason: 'queue_timeout', started_at: null, attempts: 0 });
      expect(expired.result).toBeUndefined();
      expect(Date.parse(expired.finished_at) - Date.parse(expired.created_at)).toBeGreaterThanOrEqual(300);
    } finally {
      await cancel(r, blocker.id);
    }
    // The slot is free now; the expired job stays as it is.
    await submit(r, cmd(['true']), { wait: true });
    const read = await readEvents(r, job.id);
    expect(read.events.map((e) => [e.event, e.data.state])).toEqual([
      ['state', 'queued'],
      ['state', 'expired'],
    ]);
    expect((await getJob(r, job.id)).state).toBe('expired');
    expect((await r.api('GET', '/v1/jobs?state=expired')).body.jobs.map((j: Json) => j.id)).toContain(job.id);
    expectProblem(await r.api('POST', `/v1/jobs/${job.id}/cancel`), 409, 'conflict');
  });

  test('the claim skips a job past its deadline even before the sweep ends it', async () => {
    const blocker = await startedJob(slowSweep);
    const job = await submit(slowSweep, sh('echo must-not-run', { queue_timeout_ms: 200 }));
    await sleep(400);
    await cancel(slowSweep, blocker.id);
    // The slot is free and the late job is first in line: it is still not started.
    await submit(slowSweep, cmd(['true']), { wait: true });
    expect(await getJob(slowSweep, job.id)).toMatchObject({ state: 'queued', attempts: 0, started_at: null });
    const read = await readEvents(slowSweep, job.id, { query: '?follow=false' });
    expect(read.events.filter((e) => e.event === 'stdout')).toEqual([]);
    await cancel(slowSweep, job.id);
  });

  test('queue_timeout_ms is checked: above queue.max_timeout_ms is 422, not positive is 400', async () => {
    const above = await r.api('POST', '/v1/jobs', cmd(['true'], { queue_timeout_ms: 60_001 }));
    expectProblem(above, 422, 'limit_exceeded');
    expect(above.body).toMatchObject({ field: 'queue_timeout_ms', max: 60_000 });
    for (const bad of [0, -1, 1.5, '100']) {
      expectProblem(await r.api('POST', '/v1/jobs', cmd(['true'], { queue_timeout_ms: bad })), 400, 'validation_failed');
    }
  });

  test('a job that starts in time runs normally', async () => {
    const job = await submit(r, sh('echo ran', { queue_timeout_ms: 30_000 }), { wait: true });
    expect(job).toMatchObject({ state: 'succeeded', result: { stdout: 'ran\n' } });
  });
});

describe('?wait=true', () => {
  test('a wait that ends before the job is 202 with the job as it is (running)', async () => {
    const res = await r.api('POST', '/v1/jobs?wait=true&wait_ms=300', sh('sleep 5'));
    expect(res.status).toBe(202);
    expect(res.body.state).toBe('running');
    expect(res.headers.get('location')).toBe(`/v1/jobs/${res.body.id}`);
    await cancel(r, res.body.id);
  });

  test('... or queued; a job that ends within the wait is 201; a replay is 200', async () => {
    const blocker = await startedJob(r);
    try {
      const res = await r.api('POST', '/v1/jobs?wait=true&wait_ms=200', cmd(['true']), { 'idempotency-key': 'k-202' });
      expect({ status: res.status, state: res.body.state }).toEqual({ status: 202, state: 'queued' });
      const replay = await r.api('POST', '/v1/jobs?wait=true&wait_ms=200', cmd(['true']), { 'idempotency-key': 'k-202' });
      expect({ status: replay.status, id: replay.body.id }).toEqual({ status: 200, id: res.body.id });
    } finally {
      await cancel(r, blocker.id);
    }
    const done = await r.api('POST', '/v1/jobs?wait=true', cmd(['true']));
    expect({ status: done.status, state: done.body.state }).toEqual({ status: 201, state: 'succeeded' });
  });
});

describe('a burst against a real `paddock serve`', () => {
  const BURST = 2000;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    if (server) await stopServerProcess(server, 'SIGKILL', 5000);
  });

  test(`/health stays fast (p99 < 200 ms) while ${BURST} submits are in flight; every answer is 201 or 429`, async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-burst-'));
    server = await startServerProcess(dataDir, { PADDOCK_QUEUE__MAX_QUEUED: String(BURST / 2) }, [
      '--max-concurrent-jobs',
      '1',
    ]);
    // One slot, held: the burst only queues (bounded work), none of it runs.
    const blocker = await server.api('POST', '/v1/jobs', sh('sleep 120'));
    expect(blocker.status).toBe(201);
    await waitForServerJob(server.api, blocker.body.id, (j) => j.state === 'running', 15_000);
    const token = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();

    // The burst comes from another process, so this one measures /health alone.
    const burst = runBurst(server.url, token, BURST);
    await burst.started;
    const latencies: number[] = [];
    let inFlight = 0;
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      const res = await fetch(`${server.url}/health`);
      latencies.push(performance.now() - t0);
      expect(res.status).toBe(200);
      await res.body?.cancel();
      if (!burst.done) inFlight++;
      await sleep(10);
    }
    const result = await burst.result;
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.ceil(latencies.length * 0.99) - 1]!;
    expect(result.errors, JSON.stringify(result)).toEqual([]);
    expect(Object.keys(result.statuses).sort()).toEqual(['201', '429']);
    // The global cap held exactly: the blocker runs, half the burst queued, the rest refused.
    expect(result.statuses['201']).toBe(BURST / 2);
    expect(result.statuses['429']).toBe(BURST / 2);
    expect(inFlight, 'health calls made while the burst was in flight').toBeGreaterThanOrEqual(10);
    expect(p99, `health latencies (ms): ${latencies.map((l) => l.toFixed(0)).join(',')}`).toBeLessThan(200);
    const health = await (await fetch(`${server.url}/health`)).json();
    expect(health.queueLength).toBe(BURST / 2);
  }, 120_000);
});

interface BurstResult {
  statuses: Record<string, number>;
  errors: string[];
}

/**
 * Fires `n` submits at once from a child process (loopback only) and reports
 * the status counts and any connection errors (resets) as JSON.
 */
function runBurst(url: string, token: string, n: number) {
  const script = `
    const [url, token, n] = process.argv.slice(1);
    const statuses = {}, errors = [];
    const body = JSON.stringify({ kind: 'command', command: ['true'] });
    process.stderr.write('go\\n');
    await Promise.all(Array.from({ length: Number(n) }, async () => {
      try {
        const res = await fetch(url + '/v1/jobs', { method: 'POST', body,
          headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' } });
        await res.arrayBuffer();
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      } catch (err) { errors.push(String(err.cause?.code ?? err.message)); }
    }));
    process.stdout.write(JSON.stringify({ statuses, errors }));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, url, token, String(n)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  const state = {
    done: false,
    started: new Promise<void>((resolve) => child.stderr.on('data', (d) => ((err += d), err.includes('go') && resolve()))),
    result: new Promise<BurstResult>((resolve, reject) =>
      child.on('exit', (code) => {
        state.done = true;
        if (code === 0) resolve(JSON.parse(out));
        else reject(new Error(`burst exited ${code}: ${err}`));
      }),
    ),
  };
  return state;
}
