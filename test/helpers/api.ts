import { expect } from 'vitest';
import type { ApiResponse, TestRunner } from './runner.js';
import { joined, readEvents } from './sse.js';

// Shapes and assertions shared by the API integration tests.

export type Json = Record<string, any>;

export const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'];

/** A command job spec (argv). */
export const cmd = (command: string[], extra: Json = {}): Json => ({ kind: 'command', command, ...extra });
/** A command job spec (shell script). */
export const sh = (script: string, extra: Json = {}): Json => ({ kind: 'command', script, ...extra });

/** Asserts an RFC 9457 problem+json response with our stable `code` (and so never a 500). */
export function expectProblem(res: ApiResponse, status: number, code: string, detail?: RegExp): void {
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toMatchObject({
    status,
    contentType: expect.stringMatching(/^application\/problem\+json/),
    body: { type: expect.any(String), title: expect.any(String), status, detail: expect.any(String), code },
  });
  if (detail) expect(res.body.detail).toMatch(detail);
}

/**
 * A request with full control over auth and content type; `token: null` sends
 * no Authorization header (the runner's own `api()` always sends the admin token).
 */
export async function request(
  r: TestRunner,
  method: string,
  path: string,
  opts: { token?: string | null; body?: string; contentType?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const token = opts.token === undefined ? r.token : opts.token;
  const headers: Record<string, string> = { ...opts.headers };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(`${r.url}${path}`, { method, headers, body: opts.body });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body };
}

/** POST /v1/jobs and expect it to be accepted; with `wait` the final job comes back. */
export async function submit(r: TestRunner, spec: Json, opts: { wait?: boolean } = {}): Promise<Json> {
  const res = await r.api('POST', `/v1/jobs${opts.wait ? '?wait=true' : ''}`, spec);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

export async function getJob(r: TestRunner, id: string): Promise<Json> {
  const res = await r.api('GET', `/v1/jobs/${id}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** Polls GET /v1/jobs/:id until `done(job)`; fails with the last seen job after `timeoutMs`. */
export async function waitForJob(
  r: TestRunner,
  id: string,
  done: (job: Json) => boolean = (job) => TERMINAL.includes(job.state),
  timeoutMs = 20_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(r, id);
    if (done(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} did not reach the expected state: ${JSON.stringify(job)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const isRunning = (job: Json): boolean => job.state === 'running';

/** The runner still accepts and runs an ordinary job. */
export async function expectServesJobs(r: TestRunner): Promise<void> {
  const job = await submit(r, cmd(['echo', 'still-alive']), { wait: true });
  expect(job).toMatchObject({ state: 'succeeded', result: { exit_code: 0, stdout: 'still-alive\n' } });
}

/**
 * Submits `echo started; sleep 30` and returns once `started` has been streamed,
 * so the sandbox is really up (not just claimed) — for tests that need a busy slot.
 */
export async function startedJob(r: TestRunner, extra: Json = {}): Promise<Json> {
  const job = await submit(r, sh('echo started; sleep 30', extra));
  const read = await readEvents(r, job.id, { until: (e) => joined([e], 'stdout').includes('started') });
  expect(joined(read.events, 'stdout'), 'the job printed "started"').toBe('started\n');
  return job;
}

/** POST /v1/jobs/:id/cancel, failing clearly (instead of hanging the test) when it takes over `withinMs`. */
export async function cancel(r: TestRunner, id: string, withinMs = 5_000): Promise<ApiResponse> {
  let timer: NodeJS.Timeout | undefined;
  const slow = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cancel of ${id} did not answer within ${withinMs} ms`)), withinMs);
  });
  try {
    return await Promise.race([r.api('POST', `/v1/jobs/${id}/cancel`), slow]);
  } finally {
    clearTimeout(timer);
  }
}

/** Closes a runner, but gives up after `ms` (a job the runner cannot stop must not also time out the hook). */
export async function closeWithin(r: TestRunner | undefined, ms = 15_000): Promise<void> {
  if (!r) return;
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      console.warn(`runner ${r.url} did not close within ${ms} ms; a job may still be running`);
      resolve();
    }, ms);
  });
  await Promise.race([r.close(), gaveUp]);
  clearTimeout(timer);
}
