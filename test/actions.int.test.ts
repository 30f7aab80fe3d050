import { chmodSync, copyFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from './helpers/docker.js';
import { type FakeActions, startFakeActions } from './helpers/fake-github-actions.js';
import { runCli } from './helpers/cli.js';
import { deliverWebhook } from './helpers/github-webhooks.js';
import { HostAgentDriver } from './helpers/host-agent-driver.js';
import type { TestRunner } from './helpers/runner.js';
import { removeRunnerState } from './helpers/sandbox.js';
import { startSandboxRunner } from './helpers/sandbox-runner.js';

// Ephemeral Actions runners end to end against the fake GitHub: a queued workflow_job (webhook or
// poll) becomes an `actions` job, registered just in time, whose sandbox runs the stand-in runner
// (test/helpers/standin-runner.py) at the runner's path; it takes its job, runs the steps and exits,
// and the runner's record is gone on both sides. The driver here is the real agent on this host
// (test/helpers/host-agent-driver.ts); container and VM pools need the stand-in in an image (not yet).
const skip = process.getuid?.() !== 0 && process.env.CI !== 'true';
const SECRET = 'actions-webhook-secret';
const REPO = 'acme/api';
const ended = (j: { state: string }) => ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'].includes(j.state);

describe.skipIf(skip)('ephemeral Actions runners', () => {
  let gh: FakeActions;
  let r: TestRunner;

  beforeAll(async () => {
    gh = await startFakeActions();
    // The runner's install dir, with the stand-in as run.sh; the sandbox user writes _work there.
    const runnerDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-runner-'));
    chmodSync(runnerDir, 0o777);
    copyFileSync(path.join(import.meta.dirname, 'helpers', 'standin-runner.py'), path.join(runnerDir, 'run.sh'));
    chmodSync(path.join(runnerDir, 'run.sh'), 0o755);
    r = await startSandboxRunner(new HostAgentDriver(), {
      github: { api_url: gh.url, token: 'ghp_' + 'b'.repeat(36), webhook_secret: SECRET },
      actions: {
        poll_ms: 0,
        pools: [
          { name: 'small', labels: ['paddock'], repos: [REPO], driver: 'hostagent', image: '', runner_dir: runnerDir },
          { name: 'big', labels: ['paddock', 'big'], repos: [REPO], driver: 'hostagent', image: '', runner_dir: runnerDir },
          { name: 'slow', labels: ['slow'], repos: [REPO], driver: 'hostagent', image: '', runner_dir: runnerDir, registration_timeout_ms: 10_000, max: 1 },
        ],
      },
    });
  }, 60_000);
  afterAll(async () => {
    await r?.close();
    if (r) removeRunnerState(r.dataDir);
    await gh?.close();
  }, 60_000);

  const actionsJob = async (githubJob: number) => {
    const list = await r.api('GET', '/v1/jobs?kind=actions&limit=500');
    type Row = { id: string; state: string; labels: Record<string, string> | null };
    return (list.body.jobs as Row[]).find((j) => j.labels?.['github.job'] === String(githubJob));
  };

  it('a queued job by webhook runs its steps in a fresh sandbox; its runner is gone on both sides after', async () => {
    const job = gh.queue(REPO, ['self-hosted', 'paddock', 'big'], ['echo step-one', 'echo "step-two $((6*7))"']);
    const d = await deliverWebhook(`${r.url}/v1/github/webhook`, SECRET, 'workflow_job', gh.delivery(job, 'queued'));
    expect(d.status).toBe(202);
    expect(d.body.status).toBe('accepted');
    expect(d.ms).toBeLessThan(10_000);
    const taken = await pollUntil(() => actionsJob(job.id), (j) => j !== undefined, 10_000, 'actions job submitted');
    expect(taken!.labels['actions.pool']).toBe('big'); // the only pool with all of its labels
    const done = await pollUntil(async () => (await r.api('GET', `/v1/jobs/${taken!.id}`)).body, ended, 60_000, 'actions job ended');
    expect(done.state, JSON.stringify(done)).toBe('succeeded');
    expect(gh.jobs.get(job.id)).toMatchObject({ status: 'completed', conclusion: 'success', runner_name: `paddock-big-${job.id}` });
    expect(gh.jobs.get(job.id)!.log).toBe('step-one\nstep-two 42\n');
    expect(done.result).toMatchObject({ github_job_id: job.id, runner_name: `paddock-big-${job.id}`, exit_code: 0 });
    expect(gh.runners.size).toBe(0);
    // ARC's figures: the job's startup time was observed, and nothing is assigned or busy once it ended.
    const metrics = await (await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${r.token}` } })).text();
    expect(metrics).toMatch(/paddock_actions_job_startup_duration_seconds_count\{pool="big"\} 1/);
    expect(metrics).toMatch(/paddock_actions_busy_runners\{pool="big"\} 0/);
    await pollUntil(async () => (await (await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${r.token}` } })).text()),
      (t) => /paddock_actions_assigned_jobs\{pool="big"\} 0/.test(t), 5000, 'assigned back to 0');
    // The one-use config is in no event of the job.
    const events = JSON.stringify((await r.api('GET', `/v1/jobs/${taken!.id}/events`)).body);
    expect(events).toContain('actions.runner_registered');
    expect(events).not.toMatch(/"token"|broker/);

    // A redelivery, and a poll that sees the same job, start nothing more.
    const again = await deliverWebhook(`${r.url}/v1/github/webhook`, SECRET, 'workflow_job', gh.delivery(job, 'queued'), { delivery: d.delivery });
    expect(again.body.status).toBe('duplicate');
    expect(gh.registered.filter((n) => n.endsWith(`-${job.id}`))).toHaveLength(1);
  }, 120_000);

  it('a lost webhook is picked up by polling; a failing step fails the job', async () => {
    const job = gh.queue(REPO, ['self-hosted', 'paddock'], ['echo before', 'exit 3', 'echo never']);
    await r.rt.actions.pollOnce();
    const taken = await pollUntil(() => actionsJob(job.id), (j) => j !== undefined, 10_000, 'actions job submitted by the poll');
    const done = await pollUntil(async () => (await r.api('GET', `/v1/jobs/${taken!.id}`)).body, ended, 60_000, 'actions job ended');
    // The runner reported the failure to GitHub and exited 0, as the real one does: the job's own verdict is GitHub's.
    expect(gh.jobs.get(job.id)).toMatchObject({ status: 'completed', conclusion: 'failure', log: 'before\n' });
    expect(done.result).toMatchObject({ github_job_id: job.id });
    await r.rt.actions.pollOnce();
    expect(gh.registered.filter((n) => n.endsWith(`-${job.id}`))).toHaveLength(1);
  }, 120_000);

  it('jobs no pool can run are reported with the reason; a bad signature is 401', async () => {
    const job = gh.queue(REPO, ['self-hosted', 'gpu'], ['true']);
    const d = await deliverWebhook(`${r.url}/v1/github/webhook`, SECRET, 'workflow_job', gh.delivery(job, 'queued'));
    expect(d.status).toBe(202);
    await pollUntil(async () => r.rt.actions.unmatched.find((u) => u.job === job.id), (u) => u !== undefined, 10_000, 'reported');
    expect(r.rt.actions.unmatched.find((u) => u.job === job.id)!.reason).toMatch(/no pool serving acme\/api has all of \[self-hosted, gpu\]/);
    expect(await actionsJob(job.id)).toBeUndefined();
    const hosted = gh.queue(REPO, ['ubuntu-latest'], ['true']);
    await deliverWebhook(`${r.url}/v1/github/webhook`, SECRET, 'workflow_job', gh.delivery(hosted, 'queued'));
    const bad = await deliverWebhook(`${r.url}/v1/github/webhook`, 'wrong-secret', 'workflow_job', gh.delivery(job, 'queued'));
    expect(bad.status).toBe(401);
    // in_progress / completed deliveries start nothing.
    expect((await deliverWebhook(`${r.url}/v1/github/webhook`, SECRET, 'workflow_job', gh.delivery(job, 'in_progress'))).body.status).toBe('ignored');
  }, 60_000);

  it('GitHub refusing the registration fails the job with GitHub\'s reason, and starts no sandbox', async () => {
    gh.jitFaults.push([403, 'Resource not accessible by personal access token']);
    const job = gh.queue(REPO, ['self-hosted', 'paddock'], ['true']);
    await r.rt.actions.pollOnce();
    const taken = await pollUntil(() => actionsJob(job.id), (j) => j !== undefined, 10_000, 'actions job submitted');
    const done = await pollUntil(async () => (await r.api('GET', `/v1/jobs/${taken!.id}`)).body, ended, 30_000, 'actions job ended');
    expect(done.state).toBe('failed');
    expect(JSON.stringify(done)).toMatch(/Administration: write/);
    expect(gh.jobs.get(job.id)!.status).toBe('queued');
  }, 60_000);

  it('a runner GitHub gives no job is removed after registration_timeout_ms; a busy one is never reaped; max holds jobs back', async () => {
    // GitHub gives the job to another runner before Paddock's registers.
    const lost = gh.queue(REPO, ['self-hosted', 'slow'], ['true']);
    const delivery = gh.delivery(lost, 'queued');
    Object.assign(lost, { status: 'in_progress', runner_name: 'someone-else' });
    await deliverWebhook(`${r.url}/v1/github/webhook`, SECRET, 'workflow_job', delivery);
    const taken = await pollUntil(() => actionsJob(lost.id), (j) => j !== undefined, 10_000, 'submitted');
    const done = await pollUntil(async () => (await r.api('GET', `/v1/jobs/${taken!.id}`)).body, ended, 30_000, 'lost runner removed');
    expect(done.state).toBe('failed');
    expect(done.error.message).toMatch(/no job within 10000 ms/);
    expect(gh.runners.has(done.result.runner_id)).toBe(false);

    // Busy past the registration timeout: left to finish.
    const busy = gh.queue(REPO, ['self-hosted', 'slow'], ['sleep 12', 'echo slept']);
    await deliverWebhook(`${r.url}/v1/github/webhook`, SECRET, 'workflow_job', gh.delivery(busy, 'queued'));
    const running = await pollUntil(() => actionsJob(busy.id), (j) => j !== undefined, 10_000, 'busy job submitted');
    await pollUntil(async () => gh.jobs.get(busy.id)!.status, (st) => st === 'in_progress', 10_000, 'busy job taken');
    // max 1: a job for the pool now waits for that runner to end.
    const later = gh.queue(REPO, ['self-hosted', 'slow'], ['echo later']);
    await deliverWebhook(`${r.url}/v1/github/webhook`, SECRET, 'workflow_job', gh.delivery(later, 'queued'));
    await new Promise((res) => setTimeout(res, 500));
    expect(await actionsJob(later.id)).toBeUndefined();
    expect(r.rt.actions.status().find((p) => p.pool === 'slow')).toEqual({ pool: 'slow', max: 1, active: 1, waiting: 1 });
    const status = (await r.api('GET', '/v1/actions')).body;
    expect(status.pools.find((p: { name: string }) => p.name === 'slow')).toMatchObject({
      max: 1, waiting: 1, running: 1, queued: 0, runners: [{ job_id: running!.id, github_job: busy.id, repo: REPO, state: 'running' }],
    });
    const cli = await runCli(['actions', 'status'], { url: r.url, token: r.token });
    expect(cli.code, cli.stderr).toBe(0);
    const table = cli.stdout.toString();
    expect(table).toMatch(new RegExp(`slow\\s+slow\\s+1/1\\s+0\\s+1\\s+acme/api#${busy.id}\\(running\\)`));
    expect(table).toMatch(/not taken \(no pool fits\):\n(  .*\n)*  acme\/api job \d+ \[self-hosted, gpu\]: no pool serving/);
    // One line per job however often polls see it again.
    expect(new Set(status.unmatched.map((u: { job: number }) => u.job)).size).toBe(status.unmatched.length);
    const finished = await pollUntil(async () => (await r.api('GET', `/v1/jobs/${running!.id}`)).body, ended, 60_000, 'busy runner done');
    expect(finished.state, JSON.stringify(finished)).toBe('succeeded');
    expect(gh.jobs.get(busy.id)).toMatchObject({ status: 'completed', conclusion: 'success', log: 'slept\n' });
    // Its place goes to the waiting job.
    const next = await pollUntil(() => actionsJob(later.id), (j) => j !== undefined, 10_000, 'waiting job submitted');
    await pollUntil(async () => (await r.api('GET', `/v1/jobs/${next!.id}`)).body, ended, 60_000, 'waiting job done');
    expect(gh.jobs.get(later.id)).toMatchObject({ status: 'completed', conclusion: 'success', log: 'later\n' });
  }, 120_000);

  it('GET /v1/actions needs an admin token', async () => {
    const res = await fetch(`${r.url}/v1/actions`);
    expect(res.status).toBe(401);
  });

  it('POST /v1/jobs does not take actions jobs from clients', async () => {
    const res = await r.api('POST', '/v1/jobs', { kind: 'actions', pool: 'small', github_job: { id: 1, run_id: 1, repo: REPO, labels: [] } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('validation_failed');
  });
});
