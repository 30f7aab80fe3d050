import { readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { TestRunner } from './runner.js';
import { cgroupGroup } from '../../src/sandbox/runner-id.js';

export type Api = TestRunner['api'];

export interface JobResult {
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  timed_out: boolean;
  wall_ms: number;
  cpu_ms: number | null;
  max_rss_kb: number | null;
  limit?: 'cpu' | 'memory';
}

export interface Job {
  id: string;
  state: string;
  reason?: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  error?: { code: string; message: string };
  result?: JobResult;
}

/**
 * Config that makes a runner give its bwrap sandboxes host uids `uid` … `uid + 7` (one
 * per running sandbox). Each test file uses its own uid (not the default 61000) so that
 * "no process of these uids is left" is not confused by other runners using the default.
 */
export const TEST_UID_RANGE = 8;
export const hostUser = (uid: number) => ({ sandbox: { uid_range_start: uid, uid_range_size: TEST_UID_RANGE } });
export const hostUserEnv = (uid: number) => ({
  PADDOCK_SANDBOX__UID_RANGE_START: String(uid),
  PADDOCK_SANDBOX__UID_RANGE_SIZE: String(TEST_UID_RANGE),
});

export { apiClient } from './runner.js';

/** Submits a command job; with `wait` (the default) returns it once it has ended. */
export async function submitJob(api: Api, spec: Record<string, unknown>, wait = true): Promise<Job> {
  const res = await api('POST', `/v1/jobs${wait ? '?wait=true' : ''}`, { kind: 'command', ...spec });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(typeof res.body, 'response must be JSON').toBe('object');
  return res.body as Job;
}

export async function getJob(api: Api, id: string): Promise<Job> {
  const res = await api('GET', `/v1/jobs/${id}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as Job;
}

/** Polls until `pred` holds for the job; fails with the last seen state after `ms`. */
export async function waitForJob(api: Api, id: string, pred: (j: Job) => boolean, ms = 30_000): Promise<Job> {
  const deadline = Date.now() + ms;
  for (;;) {
    const job = await getJob(api, id);
    if (pred(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.state}: ${JSON.stringify(job)}`);
    await sleep(100);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface HostProcess {
  pid: number;
  ppid: number;
  name: string;
  state: string;
  uid: number;
}

/** Live host processes of a uid (zombies left for init to reap are dead, so not counted). */
/** Processes whose host uid is in `uid` … `uid + TEST_UID_RANGE - 1` (a test runner's sandboxes, see hostUser). */
export function processesOfUid(uid: number): HostProcess[] {
  const found: HostProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
    const procUid = Number(field('Uid').split(/\s+/)[0]);
    if (procUid < uid || procUid >= uid + TEST_UID_RANGE) continue;
    const state = field('State').charAt(0);
    if (state === 'Z' || state === 'X') continue;
    found.push({ pid: Number(entry), ppid: Number(field('PPid')), name: field('Name'), state, uid: procUid });
  }
  return withoutIdleSandboxes(found);
}

/**
 * Leaves out warm-pool sandboxes waiting for a job: a uid whose only processes are one bwrap and
 * its child, the agent, with nothing started. They are the runner's, not a job's leftovers (that
 * destroy leaves nothing is tested through the driver, test/bwrap-persistent.int.test.ts).
 */
function withoutIdleSandboxes(found: HostProcess[]): HostProcess[] {
  const byUid = new Map<number, HostProcess[]>();
  for (const p of found) byUid.set(p.uid, [...(byUid.get(p.uid) ?? []), p]);
  return [...byUid.values()]
    .filter((ps) => {
      const [bwrap, agent] = [ps.find((p) => p.name === 'bwrap'), ps.find((p) => p.name === 'agent')];
      return !(ps.length === 2 && bwrap && agent && agent.ppid === bwrap.pid);
    })
    .flat();
}

/** Waits up to `ms` for every process of `uid` to be gone; returns what is left (expect it to be []). */
export async function leftoverProcesses(uid: number, ms = 3000): Promise<HostProcess[]> {
  const deadline = Date.now() + ms;
  let left = processesOfUid(uid);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = processesOfUid(uid);
  }
  return left;
}

/** After a hostile job: health is ok, a trivial job still works, and no sandbox process is left. */
export async function expectHealthy(api: Api, uid: number): Promise<void> {
  expect(await leftoverProcesses(uid)).toEqual([]);
  const health = await api('GET', '/health');
  expect(health.status).toBe(200);
  expect(health.body.status).toBe('ok');
  const job = await submitJob(api, { command: ['echo', 'ok'] });
  expect(job.state, JSON.stringify(job)).toBe('succeeded');
  expect(job.result?.stdout).toBe('ok\n');
}

/** `GET /v1/jobs/:id/events?follow=false`, parsed; every data line must be JSON. */
export async function jobEvents(api: Api, id: string): Promise<{ type: string; data: any }[]> {
  const res = await api('GET', `/v1/jobs/${id}/events?follow=false`);
  expect(res.status).toBe(200);
  const events: { type: string; data: any }[] = [];
  for (const block of String(res.body).split('\n\n')) {
    const type = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (type && data !== undefined) events.push({ type, data: JSON.parse(data) });
  }
  return events;
}

/**
 * Test hygiene: removes a runner's data dir and its (empty) cgroup v1 group
 * `paddock-<hash>`, which the runner itself leaves behind on exit.
 */
export function removeRunnerState(dataDir: string): void {
  const group = cgroupGroup(dataDir);
  for (const c of ['pids', 'memory', 'cpuacct']) {
    const dir = path.join('/sys/fs/cgroup', c, group);
    let jobs: string[] = [];
    try {
      jobs = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      continue; // no cgroups here
    }
    for (const d of [...jobs.map((j) => path.join(dir, j)), dir]) {
      try {
        rmdirSync(d);
      } catch {
        // still has processes: leave it to the runner's reaper
      }
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
}
