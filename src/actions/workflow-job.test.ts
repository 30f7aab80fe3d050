import { describe, expect, it } from 'vitest';
import { workflowJobEvent } from './workflow-job.js';

// The documented shape of a `workflow_job` delivery (trimmed to what Paddock reads, plus noise).
const delivery = (over: Record<string, unknown> = {}, job: Record<string, unknown> = {}) => ({
  action: 'queued',
  workflow_job: {
    id: 29679449, run_id: 10011, run_attempt: 1, status: 'queued', name: 'build (ubuntu)\u0007',
    labels: ['self-hosted', 'paddock'], runner_id: null, runner_name: null, steps: [], ...job,
  },
  repository: { id: 1, full_name: 'acme/api', name: 'api', owner: { login: 'acme' } },
  sender: { login: 'octocat' },
  ...over,
});

describe('workflow_job deliveries', () => {
  it('reads the job, its repository and runs-on', () => {
    expect(workflowJobEvent(delivery())).toEqual({
      action: 'queued',
      job: { id: 29679449, runId: 10011, repo: { owner: 'acme', repo: 'api' }, labels: ['self-hosted', 'paddock'], status: 'queued', name: 'build (ubuntu) ', runnerName: undefined },
    });
    expect(workflowJobEvent(delivery({ action: 'in_progress' }, { status: 'in_progress', runner_name: 'paddock-small-29679449' }))?.job.runnerName).toBe('paddock-small-29679449');
  });

  it('anything malformed that would reach a name, URL or command line is not taken', () => {
    for (const [over, job] of [
      [{ repository: { full_name: 'acme/../etc' } }, {}],
      [{ repository: { full_name: 'acme/api/x' } }, {}],
      [{ repository: {} }, {}],
      [{}, { id: -1 }],
      [{}, { id: '29679449' }],
      [{}, { run_id: 1.5 }],
      [{}, { labels: ['self-hosted', 'a b'] }],
      [{}, { labels: ['$(reboot)'] }],
      [{}, { labels: 'self-hosted' }],
      [{}, { labels: Array.from({ length: 101 }, (_, i) => `l${i}`) }],
      [{}, { status: 'Queued; rm' }],
      [{ action: 42 }, {}],
    ] as const) {
      expect(workflowJobEvent(delivery(over as Record<string, unknown>, job as Record<string, unknown>)), JSON.stringify([over, job])).toBeUndefined();
    }
    // A runner name that is not one is dropped, not trusted.
    expect(workflowJobEvent(delivery({}, { runner_name: '../../x' }))?.job.runnerName).toBeUndefined();
  });
});

describe('workflow_job deliveries as GitHub sends them (@octokit/webhooks-examples)', () => {
  it('every example parses, with its action, ids, repository and runs-on', async () => {
    const { example } = await import('../../test/helpers/github-webhooks.js');
    for (const action of ['queued', 'in_progress', 'completed', 'waiting']) {
      const p = example('workflow_job', action);
      const ev = workflowJobEvent(p);
      expect(ev, action).toBeDefined();
      expect(ev!.action).toBe(action);
      expect(ev!.job).toMatchObject({ id: p.workflow_job.id, runId: p.workflow_job.run_id, labels: p.workflow_job.labels });
      expect(`${ev!.job.repo.owner}/${ev!.job.repo.repo}`).toBe(p.repository.full_name);
    }
  });
});
