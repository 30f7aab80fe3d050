import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../util/log.js';
import { ActionsIntake } from './intake.js';
import type { WorkflowJob } from './workflow-job.js';

const config = loadConfig({
  env: { PADDOCK_CONFIG: '' },
  flags: { actions: { poll_ms: 0, pools: [{ name: 'one', labels: ['paddock'], repos: ['acme/api'], max: 1 }] } },
});
const job = (id: number): WorkflowJob => ({ id, runId: id, repo: { owner: 'acme', repo: 'api' }, labels: ['self-hosted', 'paddock'], status: 'queued', name: '', runnerName: undefined });

function intake() {
  let onEnd: (id: string) => void = () => undefined;
  const submitted: number[] = [];
  const i = new ActionsIntake({
    config,
    log: createLogger('silent'),
    onJobEnded: (l) => ((onEnd = l), () => undefined),
    // Slow, as a store write is: offers overlap.
    submit: async (spec) => {
      await new Promise((r) => setTimeout(r, 20));
      submitted.push(spec.github_job.id);
      return { id: `job_${spec.github_job.id}`, created: true };
    },
  });
  return { i, submitted, end: (id: string) => onEnd(id) };
}

describe('actions intake', () => {
  it('offers at once never pass a pool\'s max; the rest wait and go, oldest first, as runners end', async () => {
    const { i, submitted, end } = intake();
    const r = await Promise.all([1, 2, 3].map((n) => i.offer(job(n), 'webhook')));
    expect(r.map((x) => x.status)).toEqual(['submitted', 'waiting', 'waiting']);
    expect(i.status()).toEqual([{ pool: 'one', max: 1, active: 1, waiting: 2 }]);
    // The same job seen again while it waits is not queued twice.
    await i.offer(job(2), 'poll');
    expect(i.status()[0]!.waiting).toBe(2);
    end('job_1');
    await new Promise((res) => setTimeout(res, 100));
    expect(submitted).toEqual([1, 2]);
    expect(i.status()).toEqual([{ pool: 'one', max: 1, active: 1, waiting: 1 }]);
    i.stop();
  });

  it('a job that ends before its submit returned does not keep its slot', async () => {
    const { i, end } = intake();
    const offered = i.offer(job(7), 'webhook');
    end('job_7');
    await offered;
    expect(i.status()[0]!.active).toBe(0);
    i.stop();
  });
});
