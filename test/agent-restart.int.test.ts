import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentImageMissing, bash, IMAGES_DIR, MODEL_KEY } from './helpers/agent-env.js';
import { startFakeAnthropic } from './helpers/fake-anthropic.js';
import { makeBareRepo, startGitHttp } from './helpers/git-http.js';
import { hostUserEnv, processesOfUid, removeRunnerState, sleep, waitForJob } from './helpers/sandbox.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// kill -9 of the runner (the built CLI, its own process) in the middle of an agent job's turn:
// the sandbox dies with it, the job ends runner_restarted at the next start, and the diff snapshot
// taken after the agent's first tool call is still there.
const missing = agentImageMissing();
const skip = !!missing && process.env.CI !== 'true';
const UID = 62_300;

describe.skipIf(skip)('agent job across a kill -9 of the runner', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-agent-restart-'));
  const gitRoot = mkdtempSync(path.join(os.tmpdir(), 'paddock-git-'));
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of servers) await stopServerProcess(s, 'SIGKILL', 5000);
    removeRunnerState(dataDir);
    await rm(gitRoot, { recursive: true, force: true });
  });

  it('ends runner_restarted with its partial diff kept, leaving no sandbox process', async () => {
    if (missing) throw new Error(missing);
    const model = await startFakeAnthropic({ script: [bash('echo partial > partial.txt'), { hang: true }] });
    const git = await startGitHttp({ root: gitRoot });
    try {
      await makeBareRepo(gitRoot, 'acme/r', { 'a.txt': 'a\n' });
      const env = {
        ...hostUserEnv(UID),
        PADDOCK_IMAGES_DIR: IMAGES_DIR,
        PADDOCK_AGENTS__MODEL_API__BASE_URL: model.url,
        PADDOCK_AGENTS__MODEL_API__API_KEY: MODEL_KEY,
        PADDOCK_AGENTS__REPOS__ALLOW_HTTP: 'true',
      };
      const first = await startServerProcess(dataDir, env);
      servers.push(first);
      const submitted = await first.api('POST', '/v1/jobs', { kind: 'agent', prompt: 'go', repo_url: `${git.url}/acme/r.git` });
      expect(submitted.status).toBe(201);
      const id = submitted.body.id;
      const listed = async (api: ServerProcess['api']) =>
        ((await api('GET', `/v1/jobs/${id}/artifacts`)).body.artifacts ?? []).map((a: { name: string }) => a.name);
      for (let i = 0; i < 300 && !(await listed(first.api)).includes('diff.patch'); i++) await sleep(100);
      expect(await listed(first.api)).toContain('diff.patch');
      await stopServerProcess(first, 'SIGKILL');

      const second = await startServerProcess(dataDir, env);
      servers.push(second);
      const job = await waitForJob(second.api, id, (j) => j.state !== 'running' && j.state !== 'queued');
      expect({ state: job.state, reason: job.reason }).toEqual({ state: 'failed', reason: 'runner_restarted' });
      const diff = await second.api('GET', `/v1/jobs/${id}/artifacts/diff.patch`);
      expect(String(diff.body)).toContain('+++ b/partial.txt');
      for (let i = 0; i < 50 && processesOfUid(UID).length > 0; i++) await sleep(100);
      expect(processesOfUid(UID)).toEqual([]);
    } finally {
      await git.close();
      await model.close();
    }
  }, 120_000);
});
