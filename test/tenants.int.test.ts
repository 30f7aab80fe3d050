import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createToken, type StoredQuotas } from '../src/auth/tokens.js';
import { closeWithin, expectProblem, type Json, sh, TERMINAL } from './helpers/api.js';
import { type ApiResponse, apiClient, startTestRunner, type TestRunner } from './helpers/runner.js';
import { readEvents } from './helpers/sse.js';

// Tenants: a job belongs to the token that submitted it; per-token quotas answer 429.

let r: TestRunner;

beforeAll(async () => {
  r = await startTestRunner({ max_concurrent_jobs: 3 });
});
afterAll(async () => {
  await closeWithin(r);
});

interface Tenant {
  id: string;
  token: string;
  api: TestRunner['api'];
}

async function tenant(name: string, quotas: Partial<StoredQuotas> = {}): Promise<Tenant> {
  const { token, row } = await createToken(r.rt.store, name, ['jobs:read', 'jobs:write'], quotas);
  return { id: row.id, token, api: apiClient(r.url, token) };
}

async function submitAs(t: Tenant, spec: Json): Promise<Json> {
  const res = await t.api('POST', '/v1/jobs', spec);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function waitFor(t: Tenant, id: string, done: (j: Json) => boolean, timeoutMs = 20_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await t.api('GET', `/v1/jobs/${id}`);
    expect(res.status).toBe(200);
    if (done(res.body)) return res.body;
    if (Date.now() > deadline) throw new Error(`job ${id} did not get there: ${JSON.stringify(res.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
const ended = (j: Json) => TERMINAL.includes(j.state);
const running = (j: Json) => j.state === 'running';

/** A 429 with our code, a Retry-After of whole seconds ≥ 1, and which quota it was. */
function expect429(res: ApiResponse, code: string, quota?: string): void {
  expectProblem(res, 429, code);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  if (quota) expect(res.body.quota).toBe(quota);
}

describe('a job belongs to the token that submitted it', () => {
  let a: Tenant;
  let b: Tenant;
  let aJob: Json;
  let bJob: Json;

  beforeAll(async () => {
    [a, b] = await Promise.all([tenant('tenant-a'), tenant('tenant-b')]);
    aJob = await submitAs(a, sh('echo secret-of-a; sleep 30'));
    bJob = await submitAs(b, sh('echo b'));
    await waitFor(a, aJob.id, running);
    await waitFor(b, bJob.id, ended);
  });
  afterAll(async () => {
    await a.api('POST', `/v1/jobs/${aJob.id}/cancel`);
  });

  test("another token's job is 404, exactly like an id that does not exist", async () => {
    const missing = 'job_00000000000000000000000000';
    for (const [p, method] of [
      ['', 'GET'],
      ['/events?follow=false', 'GET'],
      ['/cancel', 'POST'],
    ] as const) {
      const theirs = await b.api(method, `/v1/jobs/${aJob.id}${p}`);
      const none = await b.api(method, `/v1/jobs/${missing}${p}`);
      expectProblem(theirs, 404, 'not_found');
      // Same answer but for the id: nothing tells B that A's job exists.
      expect({ ...theirs.body, detail: theirs.body.detail.replace(aJob.id, 'ID') }).toEqual({
        ...none.body,
        detail: none.body.detail.replace(missing, 'ID'),
      });
      expect(theirs.body.detail).not.toMatch(/secret-of-a|tenant-a/);
    }
    // B's cancel did nothing; A's job still runs.
    expect((await a.api('GET', `/v1/jobs/${aJob.id}`)).body.state).toBe('running');
  });

  test('B cannot read A\'s output through the event stream', async () => {
    const read = await readEvents(r, aJob.id, { token: b.token, query: '?follow=false' });
    expect(read.status).toBe(404);
    expect(read.text).not.toContain('secret-of-a');
    const own = await readEvents(r, aJob.id, { token: a.token, until: (e) => e.event === 'stdout' });
    expect(own.status).toBe(200);
    expect(own.events.find((e) => e.event === 'stdout')?.data.data).toBe('secret-of-a\n');
  });

  test('a token lists only its own jobs, also filtered by state', async () => {
    const ids = async (t: Tenant, q = '') => ((await t.api('GET', `/v1/jobs${q}`)).body.jobs as Json[]).map((j) => j.id);
    expect(await ids(a)).toContain(aJob.id);
    expect(await ids(a)).not.toContain(bJob.id);
    expect(await ids(b)).toEqual([bJob.id]);
    expect(await ids(b, '?state=running')).toEqual([]);
    expect(await ids(a, '?state=running')).toEqual([aJob.id]);
  });

  test('admin sees, lists and streams every job', async () => {
    const list = (await r.api('GET', '/v1/jobs?limit=500')).body.jobs.map((j: Json) => j.id);
    expect(list).toEqual(expect.arrayContaining([aJob.id, bJob.id]));
    expect((await r.api('GET', `/v1/jobs/${bJob.id}`)).body).toMatchObject({ id: bJob.id, state: 'succeeded' });
    const events = await readEvents(r, bJob.id, { query: '?follow=false' });
    expect(events.status).toBe(200);
  });

  test('the owner and the admin can cancel; another token cannot', async () => {
    const job = await submitAs(a, sh('sleep 30'));
    expectProblem(await b.api('POST', `/v1/jobs/${job.id}/cancel`), 404, 'not_found');
    expect((await r.api('POST', `/v1/jobs/${job.id}/cancel`)).body.state).toBe('cancelled');
    const own = await submitAs(b, sh('sleep 30'));
    expect((await b.api('POST', `/v1/jobs/${own.id}/cancel`)).body.state).toBe('cancelled');
  });
});

describe('per-token quotas', () => {
  test('max_queued: a token over it is 429 quota_exceeded; others are not held up', async () => {
    const t = await tenant('q-queued', { max_queued: 2, max_running: 1 });
    const other = await tenant('q-queued-other');
    // max_running 1 keeps the token's later jobs queued, whatever the free slots.
    const first = await submitAs(t, sh('sleep 30'));
    await waitFor(t, first.id, running);
    const queued = [await submitAs(t, sh('true')), await submitAs(t, sh('true'))];
    const refused = await t.api('POST', '/v1/jobs', sh('true'));
    expect429(refused, 'quota_exceeded', 'max_queued');
    expect(refused.body.limit).toBe(2);
    expect((await other.api('POST', '/v1/jobs', sh('true'))).status).toBe(201);
    // A place freed (cancel) is given back.
    await t.api('POST', `/v1/jobs/${queued[0]!.id}/cancel`);
    expect((await t.api('POST', '/v1/jobs', sh('true'))).status).toBe(201);
    await t.api('POST', `/v1/jobs/${first.id}/cancel`);
    await waitFor(t, queued[1]!.id, ended);
  });

  test('submits_per_s: the submit past the rate is 429 quota_exceeded with Retry-After, later ones pass', async () => {
    const t = await tenant('q-rate', { submits_per_s: 1 });
    const answers = await Promise.all([1, 2, 3].map(() => t.api('POST', '/v1/jobs', sh('true'))));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([201, 429, 429]);
    const refused = answers.find((a) => a.status === 429)!;
    expect429(refused, 'quota_exceeded', 'submits_per_s');
    await new Promise((resolve) => setTimeout(resolve, Number(refused.headers.get('retry-after')) * 1000));
    expect((await t.api('POST', '/v1/jobs', sh('true'))).status).toBe(201);
  });

  test('max_running: jobs beyond it stay queued while slots are free, and run later', async () => {
    const t = await tenant('q-running', { max_running: 1 });
    const other = await tenant('q-running-other');
    const first = await submitAs(t, sh('sleep 1.5; echo first'));
    const second = await submitAs(t, sh('echo second'));
    await waitFor(t, first.id, running);
    // Another token's job runs meanwhile: the runner had a free slot, the quota held the job back.
    const third = await other.api('POST', '/v1/jobs?wait=true', sh('echo other'));
    expect(third.body).toMatchObject({ state: 'succeeded' });
    expect((await t.api('GET', `/v1/jobs/${second.id}`)).body.state).toBe('queued');
    const [a, b] = [await waitFor(t, first.id, ended), await waitFor(t, second.id, ended)];
    expect(a).toMatchObject({ state: 'succeeded', result: { stdout: 'first\n' } });
    expect(b).toMatchObject({ state: 'succeeded', result: { stdout: 'second\n' } });
    expect(Date.parse(b.started_at)).toBeGreaterThanOrEqual(Date.parse(a.finished_at));
  });

  test('max_streams: the stream past it is 429 too_many_streams; a closed one gives its place back', async () => {
    const t = await tenant('q-streams', { max_streams: 1 });
    const job = await submitAs(t, sh('sleep 30'));
    const ac = new AbortController();
    const open = await fetch(`${r.url}/v1/jobs/${job.id}/events`, {
      headers: { authorization: `Bearer ${t.token}` },
      signal: ac.signal,
    });
    expect(open.status).toBe(200);
    try {
      const second = await t.api('GET', `/v1/jobs/${job.id}/events?follow=false`);
      expect429(second, 'too_many_streams', 'max_streams');
      // The admin's own streams are not this token's.
      expect((await readEvents(r, job.id, { query: '?follow=false' })).status).toBe(200);
    } finally {
      ac.abort();
    }
    const deadline = Date.now() + 5_000;
    let again: ApiResponse;
    do {
      await new Promise((resolve) => setTimeout(resolve, 50));
      again = await t.api('GET', `/v1/jobs/${job.id}/events?follow=false`);
    } while (again.status === 429 && Date.now() < deadline);
    expect(again.status).toBe(200);
    await t.api('POST', `/v1/jobs/${job.id}/cancel`);
  });
});
