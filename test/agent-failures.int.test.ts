import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentImageMissing, artifact, type AgentEnv, bash, jobEvents, runAgentJob, startAgentEnv } from './helpers/agent-env.js';
import { hostUser, sleep } from './helpers/sandbox.js';
import type { Turn } from './helpers/fake-anthropic.js';

// How agent jobs fail: each ends with a reason that says whose fault it was, and the work the agent
// did before (a file written by its first tool call) is kept as diff.patch.
const missing = agentImageMissing();
const skip = !!missing && process.env.CI !== 'true';
const WORK = bash('echo partial > partial.txt');
const api500: Turn = { error: { status: 500, type: 'api_error', message: 'upstream broke' } };
const api429: Turn = { error: { status: 429, type: 'rate_limit_error', message: 'slow down' }, retry_after_s: 0 };

describe.skipIf(skip)('agent jobs that fail keep their work', () => {
  let env: AgentEnv;
  let repoUrl: string;
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    env = await startAgentEnv({ ...hostUser(62_200), max_concurrent_jobs: 2 });
    repoUrl = (await env.repo('acme/fail', { 'a.txt': 'a\n' })).url;
  });
  afterAll(() => env?.close());

  const expectPartialDiff = async (id: string) => {
    const diff = await artifact(env.runner, id, 'diff.patch');
    expect(diff.status).toBe(200);
    expect(diff.text).toContain('+++ b/partial.txt');
  };

  it.each([
    ['a 500 from the model API', [WORK, api500, api500, api500, api500]],
    ['a 429 from the model API', [WORK, api429, api429, api429, api429]],
  ])('%s: model_error', async (_, script) => {
    env.model.setScript(script as Turn[]);
    const job = await runAgentJob(env.runner, { prompt: 'go', repo_url: repoUrl });
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(job.reason).toBe('model_error');
    expect(job.error.message).toMatch(/model API answered (500|429)/);
    await expectPartialDiff(job.id);
  }, 120_000);

  it('a broken stream from the model API: the CLI fails, and the job says so', async () => {
    env.model.setScript([WORK, { malformed: true }, { malformed: true }, { malformed: true }, { malformed: true }]);
    const job = await runAgentJob(env.runner, { prompt: 'go', repo_url: repoUrl });
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(['model_error', 'agent_error']).toContain(job.reason);
    await expectPartialDiff(job.id);
  }, 120_000);

  it('over its request budget: budget_exceeded, the refused request counted nowhere', async () => {
    env.model.setScript([WORK, { text: 'never sent' }]);
    const before = env.model.requests.length;
    const job = await runAgentJob(env.runner, { prompt: 'go', repo_url: repoUrl, budget: { max_requests: 1 } });
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(job.reason).toBe('budget_exceeded');
    expect(job.result.usage.requests).toBe(1);
    expect(env.model.requests.slice(before).filter((r) => r.method === 'POST')).toHaveLength(1);
    await expectPartialDiff(job.id);
  }, 120_000);

  it('at max_turns: max_turns', async () => {
    env.model.setScript([WORK, bash('echo more >> partial.txt'), { text: 'done' }]);
    const job = await runAgentJob(env.runner, { prompt: 'go', repo_url: repoUrl, max_turns: 1 });
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(job.reason).toBe('max_turns');
    expect(job.result.subtype).toBe('error_max_turns');
    await expectPartialDiff(job.id);
  }, 120_000);

  it('silent mid-turn past idle_timeout_ms: timed_out (idle)', async () => {
    env.model.setScript([WORK, { hang: true }]);
    const job = await runAgentJob(env.runner, { prompt: 'go', repo_url: repoUrl, limits: { idle_timeout_ms: 3000 } });
    expect(job.state, JSON.stringify(job)).toBe('timed_out');
    expect(job.error.code).toBe('idle_timeout');
    await expectPartialDiff(job.id);
  }, 120_000);

  it('a model turn that streams for longer than idle_timeout_ms is not idle: the job succeeds', async () => {
    // The CLI prints the text block only once it ends, ~7 s in; the stream's chunks come every ~0.5 s.
    env.model.setScript([WORK, { text: 'one two three four five six seven eight nine ten eleven twelve', delay_ms: 7000 }]);
    const job = await runAgentJob(env.runner, { prompt: 'go', repo_url: repoUrl, limits: { idle_timeout_ms: 3000 } });
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.result.duration_ms).toBeGreaterThan(6000);
  }, 120_000);

  it('cancelled mid-turn: cancelled', async () => {
    env.model.setScript([WORK, { hang: true }]);
    const submitted = await env.runner.api('POST', '/v1/jobs', { kind: 'agent', prompt: 'go', repo_url: repoUrl });
    const id = submitted.body.id;
    for (let i = 0; i < 200 && !(await jobEvents(env.runner, id)).some((e) => e.event === 'agent.tool_result'); i++) await sleep(100);
    await sleep(300);
    expect((await env.runner.api('POST', `/v1/jobs/${id}/cancel`)).status).toBe(200);
    const job = (await env.runner.api('GET', `/v1/jobs/${id}`)).body;
    expect(job.state).toBe('cancelled');
    await expectPartialDiff(id);
  }, 120_000);

  it('the CLI killed under it: agent_error', async () => {
    env.model.setScript([bash('echo partial > partial.txt; kill -9 $PPID; sleep 5')]);
    const job = await runAgentJob(env.runner, { prompt: 'go', repo_url: repoUrl });
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(job.reason).toBe('agent_error');
    expect(job.error.message).toMatch(/without a result/);
    await expectPartialDiff(job.id);
  }, 120_000);

  it.each([
    ['unknown', () => `${env.git.url}/acme/nothing.git`],
    ['unreachable', () => 'http://127.0.0.1:9/acme/app.git'],
  ])('an %s repository: repo_error, and no sandbox is made', async (_, url) => {
    const job = await runAgentJob(env.runner, { prompt: 'go', repo_url: url() });
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(job.reason).toBe('repo_error');
    expect(job.error.code).toBe('repo_unavailable');
    expect((await jobEvents(env.runner, job.id)).map((e) => e.data?.phase).filter(Boolean)).not.toContain('sandbox');
  }, 60_000);

  it('refuses bad repository URLs and refs at submit', async () => {
    for (const body of [
      { prompt: 'x', repo_url: 'ext::sh -c id' },
      { prompt: 'x', repo_url: 'https://user:pw@example.com/a.git' },
      { prompt: 'x', repo_url: 'file:///etc' },
      { prompt: 'x', repo_url: repoUrl, ref: '--upload-pack=id' },
      { prompt: 'x', github_issue: 'a/b#0' },
      { prompt: 'x', allowed_tools: ['Bash; rm -rf /'] },
    ]) {
      const res = await env.runner.api('POST', '/v1/jobs', { kind: 'agent', ...body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
  });
});
