import { existsSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic, type Turn } from './fake-anthropic.js';
import { type GitHttpServer, makeBareRepo, startGitHttp } from './git-http.js';
import { startTestRunner, type TestRunner } from './runner.js';
import { readEvents, type SseEvent } from './sse.js';

export const IMAGES_DIR = process.env.PADDOCK_IMAGES_DIR ?? '/var/cache/paddock/images';
/** The model key the runner holds; it must never be seen outside the proxy's upstream request. */
export const MODEL_KEY = 'sk-ant-test-7d1f0c9a2b4e6f8001112233';

/** Why agent jobs cannot run here: no agent image (scripts/build-images.sh builds it). */
export function agentImageMissing(): string | undefined {
  return existsSync(path.join(IMAGES_DIR, 'agent', 'rootfs', 'usr', 'local', 'bin', 'claude'))
    ? undefined
    : `the agent image is not built in ${IMAGES_DIR} (bash scripts/build-images.sh)`;
}

export interface AgentEnv {
  runner: TestRunner;
  model: FakeAnthropic;
  git: GitHttpServer;
  gitRoot: string;
  /** `<git url>/<name>.git` of a new bare repo holding `files`. */
  repo(name: string, files: Record<string, string>): Promise<{ url: string; commit: string; dir: string }>;
  close(): Promise<void>;
}

/** A runner whose agent jobs reach a scripted model server, and a git server with repos on loopback. */
export async function startAgentEnv(flags: Record<string, unknown> = {}, script: Turn[] = []): Promise<AgentEnv> {
  const model = await startFakeAnthropic({ script });
  const gitRoot = mkdtempSync(path.join(os.tmpdir(), 'paddock-git-'));
  const git = await startGitHttp({ root: gitRoot });
  const runner = await startTestRunner({
    images_dir: IMAGES_DIR,
    agents: {
      model_api: { base_url: model.url, api_key: MODEL_KEY },
      repos: { allow_http: true },
      idle_timeout_ms: 60_000,
      ...((flags.agents as object | undefined) ?? {}),
    },
    ...Object.fromEntries(Object.entries(flags).filter(([k]) => k !== 'agents')),
  });
  return {
    runner,
    model,
    git,
    gitRoot,
    async repo(name, files) {
      const { commit, dir } = await makeBareRepo(gitRoot, name, files);
      return { url: `${git.url}/${name}.git`, commit, dir };
    },
    async close() {
      await runner.close();
      await git.close();
      await model.close();
      await rm(gitRoot, { recursive: true, force: true });
    },
  };
}

/** Submits a job and waits for its end. */
export async function runAgentJob(runner: TestRunner, spec: Record<string, unknown>, waitMs = 120_000): Promise<any> {
  const res = await runner.api('POST', `/v1/jobs?wait=true&wait_ms=${waitMs}`, { kind: 'agent', ...spec });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

export async function jobEvents(runner: TestRunner, id: string): Promise<SseEvent[]> {
  return (await readEvents(runner, id, { query: '?follow=false' })).events;
}

export async function artifact(runner: TestRunner, id: string, name: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${runner.url}/v1/jobs/${id}/artifacts/${name}`, { headers: { authorization: `Bearer ${runner.token}` } });
  return { status: res.status, text: await res.text() };
}

/** A tool-use turn that runs a shell command through Claude Code's Bash tool. */
export const bash = (command: string): Turn => ({ tool_use: { name: 'Bash', input: { command, description: 'run it' } } });
