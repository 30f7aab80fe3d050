import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCommentCreated, issueLabeled, issueOpened, sign } from './helpers/github-webhooks.js';
import { agentImageMissing, IMAGES_DIR } from './helpers/agent-env.js';
import { deliverWebhook, type FakeGithub, startFakeGithub } from './helpers/fake-github.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';

const SECRET = 'webhook-secret-for-tests';
const target = { repo: 'acme/widgets', number: 7 };

async function agentJobs(runner: TestRunner): Promise<Array<{ id: string; labels?: Record<string, string> }>> {
  const res = await runner.api('GET', '/v1/jobs?kind=agent&limit=100');
  expect(res.status).toBe(200);
  return res.body.jobs;
}

/** The API leaves the spec out of a job's view; the store has it. */
async function storedSpec(runner: TestRunner, id: string): Promise<Record<string, any>> {
  const row = await runner.rt.store.getJob(id);
  return JSON.parse(row!.spec);
}

/** The job is submitted after the answer: wait until the store has it (or give up). */
async function waitForJobs(runner: TestRunner, n: number): Promise<Array<{ id: string }>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const jobs = await agentJobs(runner);
    if (jobs.length >= n || Date.now() > deadline) return jobs;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('POST /v1/github/webhook', () => {
  let runner: TestRunner;
  let github: FakeGithub;
  let url: string;

  beforeAll(async () => {
    // The jobs the webhook starts are real agent jobs: they need the agent image, and read their issue from a
    // fake GitHub. What they do after that is not this file's business; closing the runner aborts them.
    const missing = agentImageMissing();
    if (missing) throw new Error(missing);
    github = await startFakeGithub();
    await github.addRepo(target.repo, { 'README.md': 'hello\n' });
    for (let i = 1; i <= 9; i++) github.addIssue(target.repo, { title: `issue ${i}` });
    runner = await startTestRunner({
      images_dir: IMAGES_DIR,
      max_concurrent_jobs: 1,
      github: { webhook_secret: SECRET, token: github.token, api_url: github.apiUrl, git_url: github.gitUrl },
      agents: { model_api: { base_url: 'http://127.0.0.1:9', api_key: 'sk-ant-unused' }, repos: { allow_http: true } },
    });
    url = `${runner.url}/v1/github/webhook`;
  });
  afterAll(async () => {
    await runner?.close();
    await github?.close();
  });

  it('refuses a bad, missing or foreign signature with 401 problem+json, before anything is parsed', async () => {
    const payload = issueLabeled({ ...target, label: 'paddock' });
    const wrong = await deliverWebhook(url, 'another-secret', 'issues', payload);
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: 'unauthorized' });
    const missing = await deliverWebhook(url, SECRET, 'issues', payload, { signature: null });
    expect(missing.status).toBe(401);
    const short = await deliverWebhook(url, SECRET, 'issues', payload, { signature: 'sha256=abcd' });
    expect(short.status).toBe(401);
    // Not JSON, but signed wrongly: 401, not 400 (the body is never parsed).
    const junk = await deliverWebhook(url, 'x', 'issues', null, { body: '{not json' });
    expect(junk.status).toBe(401);
    // Signed correctly but not JSON: 400.
    const bad = await deliverWebhook(url, SECRET, 'issues', null, { body: '{not json' });
    expect(bad.status).toBe(400);
    expect(await agentJobs(runner)).toHaveLength(0);
  });

  it('needs no bearer token, and answers 202 at once; the job follows', async () => {
    const res = await deliverWebhook(url, SECRET, 'issues', issueLabeled({ ...target, label: 'paddock' }));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ status: 'accepted', delivery: res.delivery });
    expect(res.ms).toBeLessThan(1000);
    const jobs = await waitForJobs(runner, 1);
    expect(jobs).toHaveLength(1);
    const spec = await storedSpec(runner, jobs[0]!.id);
    expect(spec).toMatchObject({ kind: 'agent', github_issue: 'acme/widgets#7', output: { pull_request: true, issue_comment: true } });
    expect(spec.labels).toMatchObject({ 'github.delivery': res.delivery });
    const row = await runner.rt.store.getGithubDelivery(res.delivery);
    expect(row?.job_id).toBe(jobs[0]!.id);
  });

  it('a redelivery (same X-GitHub-Delivery) starts no second job, even when sent concurrently', async () => {
    const before = (await agentJobs(runner)).length;
    const payload = issueCommentCreated({ ...target, number: 8, body: '@paddock fix it', commentId: 4242 });
    const delivery = '72d3162e-cc78-11e3-81ab-4c9367dc0958';
    const answers = await Promise.all([1, 2, 3].map(() => deliverWebhook(url, SECRET, 'issue_comment', payload, { delivery })));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
    expect(answers.map((a) => a.body.status).sort()).toEqual(['accepted', 'duplicate', 'duplicate']);
    const again = await deliverWebhook(url, SECRET, 'issue_comment', payload, { delivery });
    expect(again.body.status).toBe('duplicate');
    const jobs = await waitForJobs(runner, before + 1);
    await new Promise((r) => setTimeout(r, 200));
    const after = await agentJobs(runner);
    expect(after.length).toBe(before + 1);
    expect(await storedSpec(runner, jobs[0]!.id)).toMatchObject({ github_issue: 'acme/widgets#8', github_comment_id: 4242 });
  });

  it('ignores what is not a trigger: another label, an unlabelled opened issue, a bot’s comment, a ping', async () => {
    const before = (await agentJobs(runner)).length;
    const deliveries = [
      await deliverWebhook(url, SECRET, 'issues', issueLabeled({ ...target, label: 'bug' })),
      await deliverWebhook(url, SECRET, 'issues', issueOpened({ ...target, body: 'nothing to see' })),
      await deliverWebhook(url, SECRET, 'issue_comment', issueCommentCreated({ ...target, body: '@paddock', user: { login: 'x[bot]', type: 'Bot' } })),
      await deliverWebhook(url, SECRET, 'ping', { zen: 'Keep it logically awesome.', hook_id: 1 }),
    ];
    for (const d of deliveries) expect(d).toMatchObject({ status: 202, body: { status: 'ignored' } });
    await new Promise((r) => setTimeout(r, 200));
    expect(await agentJobs(runner)).toHaveLength(before);
  });

  it('takes form-encoded deliveries too, signed over the raw body', async () => {
    const before = (await agentJobs(runner)).length;
    const body = new URLSearchParams({ payload: JSON.stringify(issueLabeled({ ...target, number: 9, label: 'paddock' })) }).toString();
    const res = await deliverWebhook(url, SECRET, 'issues', null, { body, contentType: 'application/x-www-form-urlencoded' });
    expect(res.body.status).toBe('accepted');
    expect(await waitForJobs(runner, before + 1)).toHaveLength(before + 1);
    expect(sign(SECRET, body)).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it('refuses malformed delivery headers with 400', async () => {
    const payload = issueLabeled({ ...target, label: 'paddock' });
    expect((await deliverWebhook(url, SECRET, 'issues', payload, { delivery: '../../etc' })).status).toBe(400);
    expect((await deliverWebhook(url, SECRET, 'Issues; drop', payload)).status).toBe(400);
  });
});

describe('POST /v1/github/webhook without a secret', () => {
  it('is 404 not_found', async () => {
    const runner = await startTestRunner();
    try {
      const res = await deliverWebhook(`${runner.url}/v1/github/webhook`, '', 'issues', issueLabeled({ ...target, label: 'paddock' }));
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: 'not_found' });
    } finally {
      await runner.close();
    }
  });
});
