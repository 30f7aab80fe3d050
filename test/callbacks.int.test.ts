import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import { tokenCommand } from '../src/cli/commands/token.js';
import { verifySignature } from '../src/jobs/callbacks/signature.js';
import { closeWithin, cmd, expectProblem, sh, submit, waitForJob } from './helpers/api.js';
import { type Receiver, startReceiver } from './helpers/callback-receiver.js';
import { apiClient, startTestRunner, type TestRunner } from './helpers/runner.js';

// Status callbacks of jobs against a real runner (real store, real bwrap jobs) and a local receiver.

const JOB_SECRET = 'job-secret-0123456789';
const TOKEN_SECRET = 'token-secret-0123456789';

let r: TestRunner; // callbacks.allow_private: true, so a loopback receiver is reachable
let closed: TestRunner; // the default: private destinations refused
let rx: Receiver | undefined;

beforeAll(async () => {
  [r, closed] = await Promise.all([
    startTestRunner({ callbacks: { allow_private: true, timeout_ms: 1000 } }),
    startTestRunner(),
  ]);
});
afterAll(async () => {
  await Promise.all([closeWithin(r), closeWithin(closed)]);
});
afterEach(async () => {
  await rx?.close();
  rx = undefined;
});

/** The callbacks of one job, as received, in arrival order. */
const ofJob = (id: string) => rx!.received.filter((x) => x.body.job_id === id);

describe('a command job reports its states', () => {
  test('queued → running → succeeded arrive in order, signed with the job\'s secret, the result last', async () => {
    rx = await startReceiver();
    const job = await submit(r, cmd(['echo', 'hi'], { callback_url: `${rx.url}/hook?k=1`, callback_secret: JOB_SECRET }), {
      wait: true,
    });
    expect(job.state).toBe('succeeded');
    await rx!.waitFor(3);
    const got = ofJob(job.id);
    expect(got.map((x) => x.body.state)).toEqual(['queued', 'running', 'succeeded']);
    expect(got.map((x) => x.body.previous_state)).toEqual([undefined, 'queued', 'running']);
    for (const x of got) {
      expect(verifySignature(JOB_SECRET, x.raw, x.headers['x-paddock-signature'] as string)).toBe(true);
      expect(x.headers).toMatchObject({
        'content-type': 'application/json',
        'user-agent': expect.stringMatching(/^paddock\/\d+\.\d+\.\d+/),
        'x-paddock-event': 'job.state',
        'x-paddock-delivery': expect.stringMatching(/^[0-9a-f-]{36}$/),
        'x-paddock-delivery-attempt': '1',
      });
    }
    expect(new Set(got.map((x) => x.headers['x-paddock-delivery'])).size).toBe(3);
    expect(got[1]!.body).toMatchObject({ job_id: job.id, kind: 'command', state: 'running', reason: null, attempt: 1 });
    const end = got[2]!.body;
    expect(end).toMatchObject({ state: 'succeeded', reason: 'exit_code', attempt: 1, at: expect.any(String) });
    // The result as GET /v1/jobs/:id shows it, without the output.
    const { stdout, stderr, ...result } = job.result;
    expect(stdout).toBe('hi\n');
    expect(end.result).toEqual(result);
    expect(Date.parse(end.at)).toBeGreaterThanOrEqual(Date.parse(got[1]!.body.at));
  });

  test('a failing job\'s end carries its reason and exit status', async () => {
    rx = await startReceiver();
    const job = await submit(r, sh('exit 3', { callback_url: rx.url }), { wait: true });
    await rx!.waitFor(3);
    expect(ofJob(job.id).at(-1)!.body).toMatchObject({ state: 'failed', reason: 'exit_code', result: { exit_code: 3 } });
  });

  test('a job without a secret of its own is signed with its token\'s', async () => {
    rx = await startReceiver();
    const { token } = await createToken(r.rt.store, 'signed', ['jobs:read', 'jobs:write'], {}, { callbackSecret: TOKEN_SECRET });
    const api = apiClient(r.url, token);
    const res = await api('POST', '/v1/jobs?wait=true', cmd(['true'], { callback_url: rx.url }));
    expect(res.status).toBe(201);
    await rx!.waitFor(3);
    for (const x of ofJob(res.body.id)) {
      expect(verifySignature(TOKEN_SECRET, x.raw, x.headers['x-paddock-signature'] as string)).toBe(true);
      expect(verifySignature(JOB_SECRET, x.raw, x.headers['x-paddock-signature'] as string)).toBe(false);
    }
    // The job's own secret wins over its token's.
    const own = await api('POST', '/v1/jobs?wait=true', cmd(['true'], { callback_url: rx.url, callback_secret: JOB_SECRET }));
    await rx!.waitFor(6);
    for (const x of ofJob(own.body.id)) expect(verifySignature(JOB_SECRET, x.raw, x.headers['x-paddock-signature'] as string)).toBe(true);
  });

  test('paddock token create --callback-secret env:NAME gives the token its secret; a literal secret is refused', async () => {
    rx = await startReceiver();
    const cli = async (...args: string[]) => {
      const program = new Command().exitOverride();
      tokenCommand(program);
      await program.parseAsync(['token', 'create', '--name', 'cli', '--data-dir', r.dataDir, ...args], { from: 'user' });
    };
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    process.env.CALLBACK_TEST_SECRET = TOKEN_SECRET;
    let printed = '';
    try {
      await cli('--callback-secret', 'env:CALLBACK_TEST_SECRET');
      await expect(cli('--callback-secret', TOKEN_SECRET)).rejects.toThrow(/not the secret itself/);
      await expect(cli('--callback-secret', 'env:CALLBACK_TEST_UNSET')).rejects.toThrow(/no secret there/);
      printed = out.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      delete process.env.CALLBACK_TEST_SECRET;
      out.mockRestore();
      err.mockRestore();
    }
    const token = printed.trim();
    expect(token).toMatch(/^pdk_/);
    const res = await apiClient(r.url, token)('POST', '/v1/jobs?wait=true', cmd(['true'], { callback_url: rx.url }));
    expect(res.status).toBe(201);
    await rx.waitFor(3);
    for (const x of ofJob(res.body.id)) expect(verifySignature(TOKEN_SECRET, x.raw, x.headers['x-paddock-signature'] as string)).toBe(true);
  });

  test('with no secret anywhere the callback goes unsigned', async () => {
    rx = await startReceiver();
    const job = await submit(r, cmd(['true'], { callback_url: rx.url }), { wait: true });
    await rx!.waitFor(3);
    for (const x of ofJob(job.id)) expect(x.headers['x-paddock-signature']).toBeUndefined();
  });
});

describe('delivery', () => {
  test('a receiver failing twice with 500 gets the retries, and later states wait for them', async () => {
    let tries = 0;
    rx = await startReceiver((x) => (x.body.state === 'queued' && ++tries <= 2 ? { status: 500 } : { status: 204 }));
    const job = await submit(r, cmd(['true'], { callback_url: rx.url }), { wait: true });
    await rx!.waitFor(5);
    const got = ofJob(job.id);
    expect(got.map((x) => x.body.state)).toEqual(['queued', 'queued', 'queued', 'running', 'succeeded']);
    expect(got.slice(0, 3).map((x) => x.headers['x-paddock-delivery-attempt'])).toEqual(['1', '2', '3']);
    // Retries wait (the first after ≥ 0.5 s, the second after ≥ 1 s) and the bytes are the same each time.
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(450);
    expect(got[2]!.at - got[1]!.at).toBeGreaterThanOrEqual(950);
    expect(new Set(got.slice(0, 3).map((x) => x.raw)).size).toBe(1);
    const metrics = (await r.api('GET', '/metrics')).body as string;
    expect(metrics).toMatch(/paddock_callbacks_total\{outcome="delivered"\} [1-9]/);
  });

  test('a receiver that hangs does not delay the job\'s end', async () => {
    rx = await startReceiver(() => 'hang');
    const t0 = Date.now();
    const job = await submit(r, cmd(['true'], { callback_url: rx.url }), { wait: true });
    expect(job.state).toBe('succeeded');
    // The receiver holds every try for the 1 s timeout; the job took far less.
    expect(Date.now() - t0).toBeLessThan(900);
    // Its first callback is held by the receiver; the later ones wait behind it, not the job.
    await rx!.waitFor(1);
    expect(ofJob(job.id).map((x) => x.body.state)).toEqual(['queued']);
    expect(r.rt.callbacks.pending).toBeGreaterThanOrEqual(3);
  });

  test('the secret never appears in the job\'s views', async () => {
    rx = await startReceiver();
    const job = await submit(r, cmd(['true'], { callback_url: rx.url, callback_secret: JOB_SECRET }), { wait: true });
    const one = await r.api('GET', `/v1/jobs/${job.id}`);
    const list = await r.api('GET', '/v1/jobs?limit=50');
    const events = await r.api('GET', `/v1/jobs/${job.id}/events`, undefined, { accept: 'text/event-stream' });
    for (const res of [one, list]) expect(JSON.stringify(res.body)).not.toContain(JOB_SECRET);
    expect(String(events.body)).not.toContain(JOB_SECRET);
    expect(JSON.stringify(job)).not.toContain(JOB_SECRET);
    expect(one.body).toMatchObject({ callback_url: rx.url, callback_secret: '[REDACTED]' });
    expect(list.body.jobs.find((j: { id: string }) => j.id === job.id)).toMatchObject({
      callback_url: rx.url,
      callback_secret: '[REDACTED]',
    });
    await rx!.waitFor(3);
    for (const x of rx!.received) expect(x.raw).not.toContain(JOB_SECRET);
  });

  test('a job queued before a restart reports its states from the next process', async () => {
    rx = await startReceiver();
    const first = await startTestRunner({ max_concurrent_jobs: 1, callbacks: { allow_private: true } });
    const blocker = await submit(first, cmd(['sleep', '30']));
    await waitForJob(first, blocker.id, (j) => j.state === 'running');
    const queued = await submit(first, cmd(['true'], { callback_url: rx.url, callback_secret: JOB_SECRET }));
    await rx.waitFor(1);
    await first.close();
    const second = await startTestRunner({ data_dir: first.dataDir, callbacks: { allow_private: true } });
    try {
      await waitForJob(second, queued.id);
      await rx.waitFor(3);
      const got = ofJob(queued.id);
      expect(got.map((x) => x.body.state)).toEqual(['queued', 'running', 'succeeded']);
      // The second process did not see it queued, so it cannot say what `running` followed.
      expect(got[1]!.body.previous_state).toBeUndefined();
      expect(got[2]!.body).toMatchObject({ previous_state: 'running', result: { exit_code: 0 } });
      for (const x of got) expect(verifySignature(JOB_SECRET, x.raw, x.headers['x-paddock-signature'] as string)).toBe(true);
    } finally {
      await second.close();
    }
  });

  test('/health names the oldest running job', async () => {
    const idle = await r.api('GET', '/health');
    expect(idle.body).toMatchObject({ currentJobs: 0, currentJob: null });
    const first = await submit(r, cmd(['sleep', '5']));
    await waitForJob(r, first.id, (j) => j.state === 'running');
    const second = await submit(r, cmd(['sleep', '5']));
    await waitForJob(r, second.id, (j) => j.state === 'running');
    expect((await r.api('GET', '/health')).body).toMatchObject({ currentJobs: 2, currentJob: first.id });
    await r.api('POST', `/v1/jobs/${first.id}/cancel`);
    await waitForJob(r, first.id);
    expect((await r.api('GET', '/health')).body).toMatchObject({ currentJob: second.id });
    await r.api('POST', `/v1/jobs/${second.id}/cancel`);
    await waitForJob(r, second.id);
  });
});

describe('destinations (callbacks.allow_private off)', () => {
  test('a private or loopback callback_url is refused at submit', async () => {
    for (const url of ['http://127.0.0.1:9/x', 'http://169.254.169.254/', 'http://localhost:8080/', 'http://[::1]/']) {
      const res = await closed.api('POST', '/v1/jobs', cmd(['true'], { callback_url: url }));
      expectProblem(res, 400, 'validation_failed', /allow_private/);
    }
  });

  test('a bad callback_url or secret is refused by the spec grammar', async () => {
    for (const extra of [
      { callback_url: 'ftp://example.com/' },
      { callback_url: 'https://u:p@example.com/' },
      { callback_url: 'https://example.com/', callback_secret: 'short' },
    ]) {
      const res = await closed.api('POST', '/v1/jobs', cmd(['true'], extra));
      expectProblem(res, 400, 'validation_failed', /callback_(url|secret)/);
      expect(JSON.stringify(res.body)).not.toContain('u:p@');
    }
  });

  // A name that resolves to a private address passes this check and is refused when the callback is
  // sent: src/jobs/callbacks/send.test.ts (a DNS answer is not something a test can set here).
});
