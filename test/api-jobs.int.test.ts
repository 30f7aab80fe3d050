import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import {
  cancel,
  closeWithin,
  cmd,
  expectProblem,
  getJob,
  isRunning,
  type Json,
  request,
  sh,
  startedJob,
  submit,
  waitForJob,
} from './helpers/api.js';
import type { TestRunner } from './helpers/runner.js';
import { startTestRunner } from './helpers/runner.js';
import { readEvents } from './helpers/sse.js';

// Submitting, running, listing and cancelling jobs against a real runner.

let r: TestRunner; // general jobs
let one: TestRunner; // max_concurrent_jobs 1, for queueing order and queued cancels

beforeAll(async () => {
  [r, one] = await Promise.all([
    startTestRunner({ max_concurrent_jobs: 2 }),
    startTestRunner({ max_concurrent_jobs: 1 }),
  ]);
});
afterAll(async () => {
  await Promise.all([closeWithin(r), closeWithin(one)]);
});

const run = (spec: Json) => submit(r, spec, { wait: true });
const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');
const ms = (iso: string) => Date.parse(iso);

describe('submitting and running', () => {
  test('POST /v1/jobs is 201 with a Location for the queued job', async () => {
    const res = await r.api('POST', '/v1/jobs', cmd(['true']));
    expect(res.status).toBe(201);
    expect(['queued', 'running']).toContain(res.body.state);
    expect(res.headers.get('location')).toBe(`/v1/jobs/${res.body.id}`);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect((await r.api('GET', res.headers.get('location')!)).body.id).toBe(res.body.id);
    await waitForJob(r, res.body.id);
  });

  test('?wait=true returns the finished job with its full result', async () => {
    const job = await run(cmd(['echo', 'hello']));
    expect(job).toMatchObject({ state: 'succeeded', kind: 'command', driver: expect.any(String), attempts: 1 });
    expect(ms(job.finished_at)).toBeGreaterThanOrEqual(ms(job.started_at));
    expect(job.result).toEqual({
      exit_code: 0,
      signal: null,
      stdout: 'hello\n',
      stderr: '',
      stdout_truncated: false,
      stderr_truncated: false,
      timed_out: false,
      wall_ms: expect.any(Number),
      cpu_ms: job.result.cpu_ms === null ? null : expect.any(Number),
      max_rss_kb: job.result.max_rss_kb === null ? null : expect.any(Number),
    });
  });

  test('a script runs in the shell, with stdout and stderr kept apart', async () => {
    const job = await run(sh('echo $((6 * 7)); echo oops >&2'));
    expect(job.result).toMatchObject({ exit_code: 0, stdout: '42\n', stderr: 'oops\n' });
  });

  test('stdin is passed as utf8 or base64', async () => {
    expect((await run(cmd(['cat'], { stdin: 'héllo wörld\n' }))).result.stdout).toBe('héllo wörld\n');
    const binary = await run(cmd(['od', '-An', '-tx1'], { stdin: b64([0, 1, 127, 255]), stdin_encoding: 'base64' }));
    expect(binary.result.stdout.trim()).toBe('00 01 7f ff');
  });

  test('files are written under /work: utf8, base64, nested, executable', async () => {
    const job = await run(
      cmd(['./run.sh', 'arg1'], {
        files: [
          { path: 'run.sh', content: '#!/bin/sh\necho "ran $1"\ncat a/b/c.txt\nod -An -tx1 bin/data\n', mode: '0755' },
          { path: 'a/b/c.txt', content: 'nested ✓\n' },
          { path: '/work/bin/data', content: b64([222, 173, 190, 239]), encoding: 'base64' },
        ],
      }),
    );
    expect(job.result.stderr).toBe('');
    expect(job.result.stdout).toBe('ran arg1\nnested ✓\n de ad be ef\n');
  });

  test('env is passed on top of a clean base environment', async () => {
    const job = await run(sh('echo "$GREETING|$HOME|${VITEST:-unset}"', { env: { GREETING: 'hi there' } }));
    expect(job.result.stdout).toBe('hi there|/work|unset\n');
  });

  test('cwd sets the working directory', async () => {
    const files = [{ path: 'sub/here.txt', content: 'x' }];
    const job = await run(sh('pwd; cat here.txt', { cwd: '/work/sub', files }));
    expect(job.result.stdout).toBe('/work/sub\nx');
  });

  test('a non-zero exit is state failed, reason exit_code', async () => {
    const job = await run(sh('echo bye; exit 3'));
    expect(job).toMatchObject({ state: 'failed', reason: 'exit_code', result: { exit_code: 3, stdout: 'bye\n' } });
  });

  test('limits.timeout_ms ends a job as timed_out', async () => {
    const started = Date.now();
    const job = await run(cmd(['sleep', '30'], { limits: { timeout_ms: 500 } }));
    expect(job).toMatchObject({ state: 'timed_out', reason: 'timeout', result: { timed_out: true } });
    expect(job.limits.timeout_ms).toBe(500);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test('metrics count submitted and finished jobs', async () => {
    const total = async (name: string) => {
      const text = (await request(r, 'GET', '/metrics', { token: null })).body as string;
      const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
      return lines.reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    };
    const submitted = await total('paddock_jobs_submitted_total');
    const finished = await total('paddock_jobs_finished_total');
    await run(cmd(['true']));
    expect(await total('paddock_jobs_submitted_total')).toBe(submitted + 1);
    expect(await total('paddock_jobs_finished_total')).toBe(finished + 1);
  });
});

describe('idempotency', () => {
  const post = (runner: TestRunner, spec: Json, key: string, token?: string) =>
    request(runner, 'POST', '/v1/jobs', { token, body: JSON.stringify(spec), headers: { 'idempotency-key': key } });

  test('the same key and body return the same job; another body is refused', async () => {
    const spec = cmd(['echo', 'once']);
    const first = await post(r, spec, 'key-1');
    expect(first.status).toBe(201);
    const again = await post(r, spec, 'key-1');
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expectProblem(await post(r, cmd(['echo', 'twice']), 'key-1'), 422, 'idempotency_key_reused');
  });

  test('different tokens do not share keys', async () => {
    const { token } = await createToken(r.rt.store, 'other-client', ['jobs:read', 'jobs:write']);
    const spec = cmd(['echo', 'mine']);
    const admin = await post(r, spec, 'shared-key');
    const other = await post(r, spec, 'shared-key', token);
    expect([admin.status, other.status]).toEqual([201, 201]);
    expect(other.body.id).not.toBe(admin.body.id);
  });
});

describe('listing', () => {
  test('filters by state and kind', async () => {
    const failed = await run(sh('exit 1'));
    const succeeded = await run(cmd(['true']));
    const ids = async (query: string) => (await r.api('GET', `/v1/jobs?limit=500&${query}`)).body.jobs as Json[];
    const failedJobs = await ids('state=failed');
    expect(failedJobs.map((j) => j.id)).toContain(failed.id);
    expect(failedJobs.every((j) => j.state === 'failed')).toBe(true);
    expect((await ids('state=succeeded')).map((j) => j.id)).not.toContain(failed.id);
    expect((await ids('kind=command')).map((j) => j.id)).toEqual(expect.arrayContaining([failed.id, succeeded.id]));
    expect(await ids('kind=nope')).toEqual([]);
  });

  test('pages newest first with limit and next_cursor, without duplicates or gaps', async () => {
    const mine: string[] = [];
    for (let i = 0; i < 7; i++) mine.push((await submit(r, cmd(['true']))).id);
    await Promise.all(mine.map((id) => waitForJob(r, id)));

    const all = (await r.api('GET', '/v1/jobs?limit=500')).body;
    expect(all.next_cursor).toBeNull();
    const allIds = all.jobs.map((j: Json) => j.id) as string[];
    expect(allIds.slice(0, 7)).toEqual([...mine].reverse());
    const created = all.jobs.map((j: Json) => ms(j.created_at));
    expect(created).toEqual([...created].sort((a, b) => b - a));

    const paged: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await r.api('GET', `/v1/jobs?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.jobs.length).toBeLessThanOrEqual(3);
      paged.push(...res.body.jobs.map((j: Json) => j.id));
      cursor = res.body.next_cursor;
      expect(++pages).toBeLessThan(100);
    } while (cursor);
    expect(paged).toEqual(allIds);
  });
});

describe('cancelling', () => {
  test('cancel a running job: cancelled within 5 s; cancelling again is 409', async () => {
    const job = await submit(r, cmd(['sleep', '30']));
    await waitForJob(r, job.id, isRunning);
    expect((await request(r, 'GET', '/health', { token: null })).body.currentJobs).toBeGreaterThanOrEqual(1);
    const res = await cancel(r, job.id, 5_000);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: job.id, state: 'cancelled', reason: 'cancelled' });
    expect(res.body.finished_at).not.toBeNull();
    expectProblem(await r.api('POST', `/v1/jobs/${job.id}/cancel`), 409, 'conflict');
    expect(await getJob(r, job.id)).toMatchObject({ state: 'cancelled', reason: 'cancelled' });
    expect((await request(r, 'GET', '/health', { token: null })).body.currentJobs).toBe(0);
  });

  test('cancel works at any moment of sandbox start-up', async () => {
    // A job is `running` from its claim on, while its sandbox is still being set
    // up; a cancel in that window must kill the sandbox all the same.
    for (let i = 0; i < 12; i++) {
      const job = await submit(r, cmd(['sleep', '30']));
      await waitForJob(r, job.id, isRunning);
      await new Promise((resolve) => setTimeout(resolve, (i * 3) % 20));
      expect((await cancel(r, job.id, 5_000)).body, `attempt ${i}`).toMatchObject({ state: 'cancelled' });
    }
  });

  test('cancel a queued job: it never runs', async () => {
    const blocker = await startedJob(one);
    const victim = await submit(one, cmd(['echo', 'should not run']));
    expect((await getJob(one, victim.id)).state).toBe('queued');
    const res = await cancel(one, victim.id);
    expect(res.body).toMatchObject({ state: 'cancelled', reason: 'cancelled', started_at: null });

    await cancel(one, blocker.id);
    await submit(one, cmd(['true']), { wait: true }); // the slot is free again and the queue has drained
    const after = await getJob(one, victim.id);
    expect(after).toMatchObject({ state: 'cancelled', attempts: 0, started_at: null });
    expect(after.result).toBeUndefined();
    const { events } = await readEvents(one, victim.id, { query: '?follow=false' });
    expect(events.map((e) => e.data.state)).toEqual(['queued', 'cancelled']);
  });
});

describe('queue order', () => {
  test('higher priority runs first; equal priorities run FIFO', async () => {
    const blocker = await startedJob(one);
    const queue = async (name: string, priority: number) => ({
      name,
      ...(await submit(one, cmd(['true'], { priority }))),
    });
    const low1 = await queue('low1', -5);
    const low2 = await queue('low2', -5);
    const high1 = await queue('high1', 10);
    const mid = await queue('mid', 0);
    const high2 = await queue('high2', 10);
    await cancel(one, blocker.id);

    const finish = async (j: Json): Promise<Json> => ({ ...(await waitForJob(one, j.id)), name: j.name });
    const done = await Promise.all([high1, high2, mid, low1, low2].map(finish));
    expect(done.every((j) => j.state === 'succeeded')).toBe(true);
    const byStart = (a: Json, b: Json) => ms(a.started_at) - ms(b.started_at) || ms(a.finished_at) - ms(b.finished_at);
    const order = [...done].sort(byStart);
    expect(order.map((j) => j.name)).toEqual(['high1', 'high2', 'mid', 'low1', 'low2']);
    // One slot: each job started only after the one before it finished.
    for (let i = 1; i < done.length; i++) {
      expect(ms(done[i]!.started_at)).toBeGreaterThanOrEqual(ms(done[i - 1]!.finished_at));
    }
  });
});
