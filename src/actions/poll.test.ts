import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRestStub } from '../../test/helpers/github-rest-stub.js';
import { queuedJobs, rateLimitWait } from './poll.js';

let stub: Awaited<ReturnType<typeof startRestStub>>;
beforeAll(async () => {
  stub = await startRestStub();
});
afterAll(() => stub.close());
const repo = { owner: 'acme', repo: 'api' };
const RUNS = '/repos/acme/api/actions/runs';
const job = (id: number, runId: number, status: string) => ({ id, run_id: runId, status, name: `j${id}`, labels: ['self-hosted', 'paddock'] });

describe('polling for queued workflow jobs', () => {
  it('looks into queued and in-progress runs and keeps their queued jobs', async () => {
    stub.answers.clear();
    stub.answers.set(`GET ${RUNS}?status=queued&per_page=100`, [200, { total_count: 1, workflow_runs: [{ id: 11 }] }]);
    stub.answers.set(`GET ${RUNS}?status=in_progress&per_page=100`, [200, { total_count: 2, workflow_runs: [{ id: 12 }, { id: 11 }] }]);
    stub.answers.set(`GET ${RUNS}/11/jobs`, [200, { total_count: 1, jobs: [job(101, 11, 'queued')] }]);
    stub.answers.set(`GET ${RUNS}/12/jobs`, [200, { total_count: 3, jobs: [job(201, 12, 'completed'), job(202, 12, 'queued'), { ...job(203, 12, 'queued'), labels: ['bad label'] }] }]);
    const r = await queuedJobs(stub.octokit(), repo);
    expect(r.jobs.map((j) => j.id)).toEqual([101, 202]);
    expect(r.waitMs).toBeUndefined();
    expect(stub.seen.filter((s) => s.path.includes('/jobs')).map((s) => s.path)).toEqual([`${RUNS}/11/jobs?filter=latest&per_page=100`, `${RUNS}/12/jobs?filter=latest&per_page=100`]);
  });

  it('stops when the rate limit runs low, and says how long to wait', async () => {
    const reset = String(Math.ceil(Date.now() / 1000) + 120);
    stub.answers.clear();
    stub.answers.set(`GET ${RUNS}?status=queued&per_page=100`, [200, { workflow_runs: [{ id: 11 }] }, { 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': reset }]);
    const low = await queuedJobs(stub.octokit(), repo);
    expect(low.jobs).toEqual([]);
    expect(low.waitMs).toBeGreaterThan(100_000);
    // A refusal for the rate limit (403 with remaining 0, or 429 with retry-after) is a wait too, not an error.
    stub.answers.set(`GET ${RUNS}?status=queued&per_page=100`, [429, { message: 'You have exceeded a secondary rate limit' }, { 'retry-after': '30' }]);
    expect((await queuedJobs(stub.octokit(), repo)).waitMs).toBe(30_000);
    stub.answers.set(`GET ${RUNS}?status=queued&per_page=100`, [403, { message: 'API rate limit exceeded' }, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }]);
    expect((await queuedJobs(stub.octokit(), repo)).waitMs).toBeGreaterThan(100_000);
    // Anything else is an error that names the repository.
    stub.answers.set(`GET ${RUNS}?status=queued&per_page=100`, [401, { message: 'Bad credentials' }]);
    await expect(queuedJobs(stub.octokit(), repo)).rejects.toMatchObject({ code: 'github_unauthorized', message: /acme\/api/ });
  });

  it('rateLimitWait reads GitHub\'s headers', () => {
    expect(rateLimitWait({ 'x-ratelimit-remaining': '4999' })).toBeUndefined();
    expect(rateLimitWait({ 'x-ratelimit-remaining': '5', 'x-ratelimit-reset': '1000' }, 900_000)).toBe(100_000);
    expect(rateLimitWait({ 'x-ratelimit-remaining': '0' })).toBe(60_000);
    expect(rateLimitWait({})).toBeUndefined();
  });
});
