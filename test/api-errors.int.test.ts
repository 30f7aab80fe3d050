import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import {
  cancel,
  closeWithin,
  cmd,
  expectProblem,
  expectServesJobs,
  type Json,
  request,
  startedJob,
} from './helpers/api.js';
import type { ApiResponse, TestRunner } from './helpers/runner.js';
import { startTestRunner } from './helpers/runner.js';

// Bad input, auth, and the public system endpoints.

const TIMEOUT_MAX_MS = 10_000;
let r: TestRunner;

beforeAll(async () => {
  r = await startTestRunner({
    max_concurrent_jobs: 2,
    body_limit_bytes: 2048,
    limits: { max: { timeout_ms: TIMEOUT_MAX_MS } },
  });
});
afterAll(async () => {
  await closeWithin(r);
});

const ok = cmd(['true']);
const bwrap = { ...ok, driver: 'bwrap' };
const post = (body: unknown) => () => r.api('POST', '/v1/jobs', body);
const postAs = (contentType: string, body: string) => () => request(r, 'POST', '/v1/jobs', { contentType, body });
const get = (p: string) => () => r.api('GET', p);
const withFile = (file: Json) => post({ ...ok, files: [{ content: '', ...file }] });

type Case = [name: string, send: () => Promise<ApiResponse>, detail?: RegExp];

describe('bad input is a problem+json, never a 500, and the runner keeps serving', () => {
  const invalid: Case[] = [
    ['malformed JSON', post('{"kind": "command", "command": [')],
    ['empty JSON body', postAs('application/json', '')],
    ['JSON that is not an object', post('[1, 2]')],
    ['command is a string, not an argv array', post({ kind: 'command', command: 'echo' }), /command/],
    ['priority is a string', post({ ...ok, priority: 'high' }), /priority/],
    ['unknown top-level field', post({ ...ok, colour: 'red' }), /colour/],
    ['unknown field inside limits', post({ ...ok, limits: { walltime_ms: 5 } }), /limits.*walltime_ms/],
    ['both command and script', post({ ...ok, script: 'true' }), /exactly one/],
    ['neither command nor script', post({ kind: 'command' }), /exactly one/],
    ['unknown kind', post({ kind: 'actions', command: ['true'] }), /kind/],
    ['negative limit', post({ ...ok, limits: { memory_mb: -1 } }), /limits\.memory_mb/],
    ['fractional limit', post({ ...ok, limits: { pids: 1.5 } }), /limits\.pids/],
    ['invalid env name', post({ ...ok, env: { 'NOT-OK': '1' } }), /env/],
    ['relative cwd', post({ ...ok, cwd: 'work' }), /cwd/],
    ['file path ../x escapes /work', withFile({ path: '../x' }), /files\.0\.path/],
    ['absolute file path outside /work', withFile({ path: '/etc/cron.d/x' }), /files\.0\.path/],
    ['file mode that is not octal', withFile({ path: 'x', mode: '0999' }), /mode/],
    ['unknown query parameter', () => r.api('POST', '/v1/jobs?wiat=true', ok), /wiat/],
    ['list with an unknown state', get('/v1/jobs?state=done'), /state/],
    ['list with limit=0', get('/v1/jobs?limit=0'), /limit/],
  ];
  test.each(invalid)('%s → 400 validation_failed', async (_name, send, detail) => {
    expectProblem(await send(), 400, 'validation_failed', detail);
    await expectServesJobs(r);
  });

  const refused: [status: number, code: string, ...Case][] = [
    [413, 'payload_too_large', 'body over body_limit_bytes', post({ ...ok, env: { BIG: 'x'.repeat(4096) } })],
    [415, 'unsupported_media_type', 'content-type application/xml', postAs('application/xml', '<job/>')],
    [415, 'unsupported_media_type', 'content-type form-urlencoded', postAs('application/x-www-form-urlencoded', 'a=b')],
    [415, 'unsupported_media_type', 'content-type text/plain (a JSON body)', postAs('text/plain', JSON.stringify(ok))],
    [422, 'limit_exceeded', 'limit above the runner max', post({ ...ok, limits: { timeout_ms: TIMEOUT_MAX_MS + 1 } })],
    [422, 'driver_unavailable', 'unknown driver', post({ ...ok, driver: 'firecracker' }), /firecracker/],
    [422, 'driver_unavailable', 'network egress on bwrap', post({ ...bwrap, network: 'egress' }), /egress/],
    [422, 'image_not_found', 'unknown image', post({ ...bwrap, image: 'no-such-image' }), /no-such-image/],
    [400, 'validation_failed', 'image name with a path', post({ ...bwrap, image: '../../..' }), /image reference/],
    [404, 'not_found', 'GET unknown job', get('/v1/jobs/job_doesnotexist'), /job_doesnotexist/],
    [404, 'not_found', 'cancel unknown job', () => r.api('POST', '/v1/jobs/job_doesnotexist/cancel')],
    [404, 'not_found', 'events of unknown job', get('/v1/jobs/job_doesnotexist/events')],
    [404, 'not_found', 'unknown route', get('/v1/nope'), /\/v1\/nope/],
    [404, 'not_found', 'wrong method on a route', () => r.api('DELETE', '/v1/jobs')],
  ];
  test.each(refused)('%i %s: %s', async (status, code, _name, send, detail) => {
    expectProblem(await send(), status, code, detail);
    await expectServesJobs(r);
  });

  test('limit_exceeded names the field and the maximum', async () => {
    const res = await r.api('POST', '/v1/jobs', { ...ok, limits: { timeout_ms: TIMEOUT_MAX_MS * 2 } });
    expectProblem(res, 422, 'limit_exceeded', /limits\.timeout_ms/);
    expect(res.body).toMatchObject({ field: 'limits.timeout_ms', max: TIMEOUT_MAX_MS });
  });

  test('validation problems list every issue with its path', async () => {
    const res = await r.api('POST', '/v1/jobs', { ...ok, priority: 1000, stdin_encoding: 'hex' });
    expectProblem(res, 400, 'validation_failed');
    const paths = (res.body.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['body.priority', 'body.stdin_encoding']));
  });
});

describe('auth', () => {
  const secretOf = (token: string) => token.split('_').at(-1)!;

  test('a missing token is 401', async () => {
    expectProblem(await request(r, 'GET', '/v1/jobs', { token: null }), 401, 'unauthorized', /missing/);
    expectProblem(await request(r, 'POST', '/v1/jobs', { token: null, body: JSON.stringify(ok) }), 401, 'unauthorized');
  });

  test.each([
    ['garbage', 'not-a-token'],
    ['well-formed but unknown', `pdk_${'a'.repeat(12)}_${'A'.repeat(43)}`],
  ])('a %s token is 401', async (_name, token) => {
    expectProblem(await request(r, 'GET', '/v1/jobs', { token }), 401, 'unauthorized');
  });

  test('a known token id with the wrong secret is 401', async () => {
    const wrong = r.token.replace(secretOf(r.token), 'B'.repeat(43));
    expectProblem(await request(r, 'GET', '/v1/jobs', { token: wrong }), 401, 'unauthorized');
  });

  test('a token sent with another scheme than Bearer is 401', async () => {
    const res = await request(r, 'GET', '/v1/jobs', { token: null, headers: { authorization: `Basic ${r.token}` } });
    expectProblem(res, 401, 'unauthorized');
  });

  test('a revoked token is 401', async () => {
    const { token, row } = await createToken(r.rt.store, 'soon-revoked', ['jobs:read', 'jobs:write']);
    expect((await request(r, 'GET', '/v1/jobs', { token })).status).toBe(200);
    expect(await r.rt.store.revokeToken(row.id)).toBe(true);
    expectProblem(await request(r, 'GET', '/v1/jobs', { token }), 401, 'unauthorized');
  });

  test('a jobs:read token can read but not submit or cancel', async () => {
    const { token } = await createToken(r.rt.store, 'reader', ['jobs:read']);
    const job = await startedJob(r);
    try {
      const submitted = await request(r, 'POST', '/v1/jobs', { token, body: JSON.stringify(ok) });
      expectProblem(submitted, 403, 'forbidden', /jobs:write/);
      expectProblem(await request(r, 'POST', `/v1/jobs/${job.id}/cancel`, { token }), 403, 'forbidden');
      expect((await request(r, 'GET', '/v1/jobs', { token })).status).toBe(200);
      // The job is the admin's: to another token it does not exist (test/tenants.int.test.ts).
      expectProblem(await request(r, 'GET', `/v1/jobs/${job.id}`, { token }), 404, 'not_found');
      expect((await r.api('GET', `/v1/jobs/${job.id}`)).body.state).not.toBe('cancelled');
    } finally {
      await cancel(r, job.id);
    }
  });

  test('the admin token can submit, read, list, stream and cancel', async () => {
    const job = await startedJob(r);
    expect((await r.api('GET', '/v1/jobs')).body.jobs.map((j: { id: string }) => j.id)).toContain(job.id);
    expect((await r.api('GET', `/v1/jobs/${job.id}/events?follow=false`)).status).toBe(200);
    const cancelled = await cancel(r, job.id);
    expect(cancelled).toMatchObject({ status: 200, body: { state: 'cancelled' } });
  });

  test.each(['/health', '/metrics', '/openapi.json'])('%s needs no token', async (p) => {
    expect((await request(r, 'GET', p, { token: null })).status).toBe(200);
  });

  test('admin.token in the data dir is mode 0600 and holds the working admin token', () => {
    const file = path.join(r.dataDir, 'admin.token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^pdk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
  });
});

describe('system endpoints', () => {
  test('/openapi.json is an OpenAPI 3 document with the job routes and bearer auth', async () => {
    const { status, body: doc } = await request(r, 'GET', '/openapi.json', { token: null });
    expect(status).toBe(200);
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/events', '/v1/jobs/{id}/cancel', '/health']),
    );
    expect(doc.paths['/v1/jobs']).toHaveProperty('post');
    expect(doc.paths['/v1/jobs']).toHaveProperty('get');
    expect(doc.paths['/v1/jobs/{id}/cancel']).toHaveProperty('post');
    const schemes = Object.entries(doc.components.securitySchemes as Record<string, Json>);
    const bearer = schemes.find(([, s]) => s.type === 'http' && String(s.scheme).toLowerCase() === 'bearer');
    expect(bearer, 'a bearer security scheme').toBeDefined();
    expect(doc.security).toEqual(expect.arrayContaining([{ [bearer![0]]: [] }]));
  });

  test('/openapi.json documents the public endpoints as needing no auth', async () => {
    const doc = (await request(r, 'GET', '/openapi.json', { token: null })).body;
    // An operation without its own `security` inherits the document's (bearer).
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/metrics'].get.security).toEqual([]);
  });

  test('/health reports status, version, load and drivers', async () => {
    const { status, body } = await request(r, 'GET', '/health', { token: null });
    expect(status).toBe(200);
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(body).toMatchObject({
      status: 'ok',
      version: pkg.version,
      uptime: expect.any(Number),
      currentJobs: expect.any(Number),
      queueLength: expect.any(Number),
    });
    expect(body.lastActivity === null || !Number.isNaN(Date.parse(body.lastActivity))).toBe(true);
    expect(body.drivers).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'bwrap', available: true })]));
  });
});
