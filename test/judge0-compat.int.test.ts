import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import { ALL_FIELDS } from '../src/server/compat/judge0/fields.js';
import { dockerMissing } from './helpers/docker.js';
import { judgeImageMissing, startJudgeRunner } from './helpers/judge-env.js';
import type { TestRunner } from './helpers/runner.js';
import { hostUser } from './helpers/sandbox.js';

// The Judge0 CE API over judge jobs, spoken over raw HTTP as Judge0's documentation shows it.
const CI = process.env.CI === 'true';
const missing = judgeImageMissing();
const BWRAP = hostUser(64_100);

interface Res {
  status: number;
  text: string;
  body: any;
}

/** One raw HTTP request to the Judge0 API, authenticated the Judge0 way (X-Auth-Token) unless told otherwise. */
async function j0(r: TestRunner, method: string, path: string, body?: unknown, headers: Record<string, string> = { 'x-auth-token': r.token }): Promise<Res> {
  const res = await fetch(`${r.url}/judge0${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // empty or plain
  }
  return { status: res.status, text, body: parsed };
}

/** GET the submission until Judge0 says it is done (status above 2), as a Judge0 client polls. */
async function poll(r: TestRunner, token: string, query = ''): Promise<any> {
  const seen: number[] = [];
  for (const deadline = Date.now() + 90_000; Date.now() < deadline; ) {
    const res = await j0(r, 'GET', `/submissions/${token}${query}`);
    expect(res.status, res.text).toBe(200);
    const id = res.body.status?.id ?? res.body.status_id;
    seen.push(id);
    if (id > 2) return Object.assign(res.body, { seen });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`submission ${token} did not finish (statuses seen: ${seen.join(',')})`);
}

/** POST ?wait=true and answer the submission. */
async function run(r: TestRunner, submission: Record<string, unknown>, query = ''): Promise<any> {
  const res = await j0(r, 'POST', `/submissions?wait=true${query}`, submission);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
/** Judge0's own C example (docs: create a submission), with CE's language id for C. */
const HELLO_C = '#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n  printf("hello, %s\\n", name);\n  return 0;\n}';
const HELLO = { source_code: HELLO_C, language_id: 50, stdin: 'Judge0', expected_output: 'hello, Judge0' };
const SUM_PY = 'a, b = map(int, input().split())\nprint(a + b)\n';
/** A zip (Info-ZIP) of data.txt "hello from data\n" and input.txt "3 4\n". */
const ZIP =
  'UEsDBAoAAAAAAEp/gl0FlCL/EAAAABAAAAAIAAAAZGF0YS50eHRoZWxsbyBmcm9tIGRhdGEKUEsDBAoAAAAAAEp/gl1a1GigBAAAAAQAAAAJAAAAaW5wdXQudHh0MyA0ClBLAQIeAwoAAAAAAEp/gl0FlCL/EAAAABAAAAAIAAAAAAAAAAEAAACkgQAAAABkYXRhLnR4dFBLAQIeAwoAAAAAAEp/gl1a1GigBAAAAAQAAAAJAAAAAAAAAAEAAACkgTYAAABpbnB1dC50eHRQSwUGAAAAAAIAAgBtAAAAYQAAAAAA';
const ZIP_WITH_DIR =
  'UEsDBAoAAAAAAEp/gl0AAAAAAAAAAAAAAAACAAAAZC9QSwMECgAAAAAASn+CXR8I6kYCAAAAAgAAAAcAAABkL2YudHh0eApQSwECHgMKAAAAAABKf4JdAAAAAAAAAAAAAAAAAgAAAAAAAAAAABAA7UEAAAAAZC9QSwECHgMKAAAAAABKf4JdHwjqRgIAAAACAAAABwAAAAAAAAABAAAApIEgAAAAZC9mLnR4dFBLBQYAAAAAAgACAGUAAABHAAAAAAA=';
/** Touches 200 MB, far past a 64,000 KB limit. */
const HOG_PY = "x = b'x' * (200 * 1024 * 1024)\nprint(len(x))\n";

describe('Judge0 API on bwrap', () => {
  let r: TestRunner;
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    r = await startJudgeRunner({ ...BWRAP, callbacks: { allow_private: true, timeout_ms: 2000 } });
  });
  if (missing && !CI) return void it.skip(`needs: ${missing}`);
  afterAll(() => r?.close());

  it('a documented round trip: create, poll, wait=true, base64_encoded=true, fields=*', async () => {
    const created = await j0(r, 'POST', '/submissions?base64_encoded=false&wait=false', HELLO);
    expect(created.status, created.text).toBe(201);
    expect(Object.keys(created.body)).toEqual(['token']);
    const token: string = created.body.token;
    expect(token).toMatch(/^job_[0-9a-z]{26}$/);

    const polled = await poll(r, token, '?base64_encoded=false');
    expect(polled.seen.every((id: number) => id === polled.seen.at(-1) || id === 1 || id === 2)).toBe(true);
    const { seen: _, ...shown } = polled;
    expect(Object.keys(shown)).toEqual(['stdout', 'time', 'memory', 'stderr', 'token', 'compile_output', 'message', 'status']);
    expect(shown).toMatchObject({ stdout: 'hello, Judge0\n', stderr: null, token, compile_output: null, message: null, status: { id: 3, description: 'Accepted' } });
    expect(shown.time).toMatch(/^\d+\.\d+$/);
    expect(Number.isInteger(shown.memory) && shown.memory > 0).toBe(true);

    const waited = await run(r, HELLO);
    expect(waited).toMatchObject({ stdout: 'hello, Judge0\n', status: { id: 3, description: 'Accepted' } });
    expect(waited.token).not.toBe(token);

    const encoded = await run(r, { ...HELLO, source_code: b64(HELLO_C), stdin: b64('Judge0'), expected_output: b64('hello, Judge0') }, '&base64_encoded=true');
    expect(encoded).toMatchObject({ stdout: 'aGVsbG8sIEp1ZGdlMAo=\n', stderr: null, status: { id: 3 } });

    const all = await j0(r, 'GET', `/submissions/${token}?base64_encoded=false&fields=*`);
    expect(all.status).toBe(200);
    expect(Object.keys(all.body)).toEqual([...ALL_FIELDS]);
    expect(all.body).toMatchObject({
      source_code: HELLO_C,
      language_id: 50,
      stdin: 'Judge0',
      expected_output: 'hello, Judge0',
      stdout: 'hello, Judge0\n',
      status_id: 3,
      token,
      number_of_runs: 1,
      cpu_time_limit: '5.0',
      cpu_extra_time: '1.0',
      wall_time_limit: '10.0',
      memory_limit: 128_000,
      stack_limit: 64_000,
      max_processes_and_or_threads: 60,
      max_file_size: 1024,
      exit_code: 0,
      exit_signal: null,
      redirect_stderr_to_stdout: false,
      enable_network: false,
      status: { id: 3, description: 'Accepted' },
      language: { id: 50, name: expect.stringMatching(/^C \(GCC/) },
    });
    expect(all.body.wall_time).toMatch(/^\d+\.\d+$/);
    expect(Date.parse(all.body.finished_at)).toBeGreaterThanOrEqual(Date.parse(all.body.created_at));
    const b = await j0(r, 'GET', `/submissions/${token}?base64_encoded=true&fields=stdin,source_code`);
    expect(b.body).toEqual({ source_code: `${b64(HELLO_C).match(/.{1,60}/g)!.join('\n')}\n`, stdin: 'SnVkZ2Uw\n' });

    // The same job in Paddock's own API.
    const native = await r.api('GET', `/v1/jobs/${token}`);
    expect(native.body).toMatchObject({ kind: 'judge', state: 'succeeded', result: { verdict: 'accepted' } });
  }, 180_000);

  it('a batch: tokens or per-item errors, then read back with ?tokens=', async () => {
    const made = await j0(r, 'POST', '/submissions/batch', {
      submissions: [
        { language_id: 71, source_code: SUM_PY, stdin: '2 3\n', expected_output: '5\n' },
        { language_id: 71, source_code: SUM_PY, stdin: '2 3\n', expected_output: '6\n' },
        { language_id: 4242, source_code: SUM_PY },
      ],
    });
    expect(made.status, made.text).toBe(201);
    expect(made.body[2]).toEqual({ language_id: ["language with id 4242 doesn't exist"] });
    const tokens = [made.body[0].token, made.body[1].token, 'job_00000000000000000000000000'];
    for (const t of tokens.slice(0, 2)) await poll(r, t);
    const got = await j0(r, 'GET', `/submissions/batch?tokens=${tokens.join(',')}&base64_encoded=false&fields=token,status_id,stdout`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual({
      submissions: [{ stdout: '5\n', status_id: 3, token: tokens[0] }, { stdout: '5\n', status_id: 4, token: tokens[1] }, null],
    });
  }, 120_000);

  it('languages, a language, statuses, about, config_info', async () => {
    const langs = await j0(r, 'GET', '/languages');
    expect(langs.status).toBe(200);
    expect(langs.body.map((l: { id: number }) => l.id)).toEqual([46, 50, 54, 62, 63, 71]);
    expect(langs.body.find((l: { id: number }) => l.id === 71).name).toMatch(/^Python \(/);
    const py = await j0(r, 'GET', '/languages/71');
    expect(py.body).toEqual({ id: 71, name: expect.any(String), is_archived: false, source_file: 'main.py', compile_cmd: null, run_cmd: 'python3 -B -S main.py' });
    const c = await j0(r, 'GET', '/languages/50');
    expect(c.body.compile_cmd).toMatch(/^gcc .*%s main\.c/);
    expect((await j0(r, 'GET', '/languages/9999')).status).toBe(404);
    const statuses = await j0(r, 'GET', '/statuses');
    expect(statuses.body).toHaveLength(14);
    expect(statuses.body[11]).toEqual({ id: 12, description: 'Runtime Error (Other)' });
    expect((await j0(r, 'GET', '/about')).body).toMatchObject({ version: expect.any(String) });
    const conf = await j0(r, 'GET', '/config_info');
    expect(conf.body).toMatchObject({ cpu_time_limit: 5, max_cpu_time_limit: 15, memory_limit: 128_000, max_memory_limit: 512_000, max_submission_batch_size: 20, allow_enable_network: false });
  });

  it('memory limit exceeded is 12 "Memory limit exceeded" here, and memory_limit_exceeded in the native API', async () => {
    const s = await run(r, { language_id: 71, source_code: HOG_PY, memory_limit: 64_000 }, '&fields=token,status,message,stdout');
    expect(s).toMatchObject({ status: { id: 12, description: 'Runtime Error (Other)' }, message: 'Memory limit exceeded', stdout: null });
    const native = await r.api('GET', `/v1/jobs/${s.token}`);
    expect(native.body.result.verdict).toBe('memory_limit_exceeded');
  }, 60_000);

  it('time limits: CPU and wall clock are 5 with isolate’s messages', async () => {
    const spin = await run(r, { language_id: 71, source_code: 'while True:\n  pass\n', cpu_time_limit: 1, wall_time_limit: 5 }, '&fields=*');
    expect(spin).toMatchObject({ status: { id: 5, description: 'Time Limit Exceeded' }, message: 'Time limit exceeded' });
    // The CPU time the program used, near the limit. (The judge's wait4 figure has read 0.87–1.0 s for a SIGXCPU at 1 s on a busy machine.)
    const test = (await r.api('GET', `/v1/jobs/${spin.token}`)).body.result.tests[0];
    expect(Number(spin.time), JSON.stringify(test)).toBeGreaterThan(0.5);
    const nap = await run(r, { language_id: 71, source_code: 'import time\ntime.sleep(30)\n', wall_time_limit: 1 });
    expect(nap).toMatchObject({ status: { id: 5 }, message: 'Time limit exceeded (wall clock)' });
  }, 90_000);

  it('a compile error is 6 with the compiler output; runtime errors by signal and exit code; wrong answers 4', async () => {
    const ce = await run(r, { language_id: 50, source_code: 'int main( {\n' });
    expect(ce).toMatchObject({ status: { id: 6, description: 'Compilation Error' }, stdout: null, time: null, memory: null });
    expect(ce.compile_output).toContain('main.c:1');
    const segv = await run(r, { language_id: 50, source_code: 'int main(void) { volatile int *p = 0; return *p; }\n' }, '&fields=status,message,exit_signal');
    expect(segv).toEqual({ status: { id: 7, description: 'Runtime Error (SIGSEGV)' }, message: 'Caught fatal signal 11', exit_signal: 11 });
    const nzec = await run(r, { language_id: 71, source_code: 'import sys\nsys.exit(3)\n' }, '&fields=status,message,exit_code');
    expect(nzec).toEqual({ status: { id: 11, description: 'Runtime Error (NZEC)' }, message: 'Exited with error status 3', exit_code: 3 });
    const wa = await run(r, { language_id: 71, source_code: 'print(6)\n', expected_output: '5' });
    expect(wa.status).toEqual({ id: 4, description: 'Wrong Answer' });
  }, 120_000);

  it('additional_files, command_line_arguments, number_of_runs, redirect_stderr_to_stdout', async () => {
    const files = await run(r, { language_id: 46, source_code: 'cat data.txt\nread a b < input.txt\necho $((a + b))\n', additional_files: ZIP });
    expect(files).toMatchObject({ status: { id: 3 }, stdout: 'hello from data\n7\n' });
    const args = await run(r, { language_id: 46, source_code: 'echo "$#:$1:$2"\n', command_line_arguments: '"a b" c' });
    expect(args.stdout).toBe('2:a b:c\n');
    const runs = await run(r, { language_id: 71, source_code: SUM_PY, stdin: '1 1', number_of_runs: 3 }, '&fields=token,status,stdout');
    expect(runs).toMatchObject({ status: { id: 3 }, stdout: '2\n' });
    expect((await r.api('GET', `/v1/jobs/${runs.token}`)).body.result.tests).toHaveLength(3);
    const merged = await run(r, { language_id: 46, source_code: 'echo out\necho err >&2\n', redirect_stderr_to_stdout: true, expected_output: 'out\nerr' });
    expect(merged).toMatchObject({ status: { id: 3 }, stdout: 'out\nerr\n', stderr: null });
  }, 120_000);

  it('callback_url: the result is PUT there (base64, default fields)', async () => {
    const got: { method: string; body: any }[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ method: req.method!, body: JSON.parse(Buffer.concat(chunks).toString()) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/judge0-hook`;
      const made = await j0(r, 'POST', '/submissions', { language_id: 71, source_code: 'print("hi")\n', callback_url: url });
      expect(made.status, made.text).toBe(201);
      for (const deadline = Date.now() + 60_000; got.length === 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(got).toHaveLength(1);
      expect(got[0]!.method).toBe('PUT');
      expect(Object.keys(got[0]!.body).sort()).toEqual(['compile_output', 'memory', 'message', 'status', 'stderr', 'stdout', 'time', 'token']);
      expect(got[0]!.body).toMatchObject({ token: made.body.token, stdout: 'aGkK\n', status: { id: 3 } });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 90_000);

  it.each([
    ['an unknown language_id', { source_code: 'x', language_id: 9999 }, '', 422, { language_id: ["language with id 9999 doesn't exist"] }],
    ['no language_id', { source_code: 'x' }, '', 422, { language_id: ["can't be blank"] }],
    ['no source_code', { language_id: 71 }, '', 422, { source_code: ["can't be blank"] }],
    ['bad base64', { language_id: 71, source_code: b64('print(1)'), stdin: '@@@' }, '?base64_encoded=true', 422, { stdin: ['is not valid base64 (base64_encoded=true)'] }],
    [
      'limits beyond the caps',
      { ...HELLO, cpu_time_limit: 60, wall_time_limit: 21, memory_limit: 1_000_000 },
      '',
      422,
      { cpu_time_limit: ['must be less than or equal to 15.0'], wall_time_limit: ['must be less than or equal to 20.0'], memory_limit: ['must be less than or equal to 512000'] },
    ],
    ['enable_network', { ...HELLO, enable_network: true }, '', 422, { enable_network: ['enabling network is not allowed'] }],
    ['a zip with directories', { ...HELLO, additional_files: ZIP_WITH_DIR }, '', 422, { additional_files: [expect.stringContaining('directories are not supported')] }],
    ['a bad fields name', HELLO, '?fields=stdout,bogus', 400, { error: 'invalid fields: [bogus]' }],
    ['a body that is not JSON', '{"language_id": 71,', '', 400, { error: expect.any(String) }],
  ])('%s is refused in Judge0’s shape', async (_, body, query, status, shape) => {
    const res = await j0(r, 'POST', `/submissions${query}`, body);
    expect(res.status, res.text).toBe(status);
    expect(res.body).toEqual(shape);
  });

  it('batches: more than 20, none, and bad reads', async () => {
    const many = Array.from({ length: 21 }, () => HELLO);
    expect(await j0(r, 'POST', '/submissions/batch', { submissions: many })).toMatchObject({
      status: 400,
      body: { error: 'number of submissions in a batch should be less than or equal to 20' },
    });
    expect(await j0(r, 'POST', '/submissions/batch', { submissions: [] })).toMatchObject({ status: 400, body: { error: 'there should be at least one submission in a batch' } });
    const allBad = await j0(r, 'POST', '/submissions/batch', { submissions: [{ language_id: 71 }] });
    expect(allBad).toMatchObject({ status: 422, body: [{ source_code: ["can't be blank"] }] });
    const tokens = Array.from({ length: 21 }, (_, i) => `t${i}`).join(',');
    expect((await j0(r, 'GET', `/submissions/batch?tokens=${tokens}`)).status).toBe(400);
    expect(await j0(r, 'GET', '/submissions/job_00000000000000000000000000')).toMatchObject({ status: 404, body: { status: 404, error: 'Not Found' } });
    expect(await j0(r, 'GET', '/submissions/x?fields=nope')).toMatchObject({ status: 400, body: { error: 'invalid fields: [nope]' } });
  });

  it('auth: X-Auth-Token (or a bearer) is a Paddock token; 401 and 403 are empty; another token’s submissions are 404', async () => {
    expect(await j0(r, 'GET', '/statuses', undefined, {})).toMatchObject({ status: 401, text: '' });
    expect(await j0(r, 'POST', '/submissions', HELLO, { 'x-auth-token': 'pdk_nope_nope' })).toMatchObject({ status: 401, text: '' });
    expect((await j0(r, 'GET', '/statuses', undefined, { authorization: `Bearer ${r.token}` })).status).toBe(200);
    expect(await j0(r, 'POST', '/authenticate')).toMatchObject({ status: 200, text: '' });
    const reader = await createToken(r.rt.store, 'judge0-reader', ['jobs:read']);
    expect(await j0(r, 'POST', '/submissions', HELLO, { 'x-auth-token': reader.token })).toMatchObject({ status: 403, text: '' });
    const mine = await j0(r, 'POST', '/submissions', { language_id: 71, source_code: 'print(1)\n' });
    expect((await j0(r, 'GET', `/submissions/${mine.body.token}`, undefined, { 'x-auth-token': reader.token })).status).toBe(404);
    // A native job is not a Judge0 submission, even to its owner.
    const native = await r.api('POST', '/v1/jobs', { kind: 'judge', language: 'python', source: 'print(1)\n', tests: [{}] });
    expect((await j0(r, 'GET', `/submissions/${native.body.id}`)).status).toBe(404);
  });
});

describe('Judge0 API prefix', () => {
  it('is configurable, and empty turns it off', async () => {
    const moved = await startJudgeRunner({ ...BWRAP, judge: { smoke: false, judge0_prefix: '/j0' } });
    const off = await startJudgeRunner({ ...BWRAP, judge: { smoke: false, judge0_prefix: '' } });
    try {
      const get = (x: TestRunner, p: string) => fetch(`${x.url}${p}`, { headers: { 'x-auth-token': x.token } });
      expect((await get(moved, '/j0/statuses')).status).toBe(200);
      expect((await get(moved, '/judge0/statuses')).status).toBe(404);
      const gone = await get(off, '/judge0/statuses');
      expect(gone.status).toBe(404);
      expect(gone.headers.get('content-type')).toContain('application/problem+json');
    } finally {
      await Promise.all([moved.close(), off.close()]);
    }
  });
});

const noGvisor = missing ?? (await dockerMissing());
describe('Judge0 API on gVisor', () => {
  let r: TestRunner;
  beforeAll(async () => {
    if (noGvisor) throw new Error(noGvisor);
    r = await startJudgeRunner({ drivers: ['gvisor'], docker: { uid_range_start: 320_000, uid_range_size: 20 } });
  });
  if (noGvisor && !CI) return void it.skip(`needs: ${noGvisor}`);
  afterAll(() => r?.close());

  it('a round trip and a memory limit', async () => {
    const token = (await j0(r, 'POST', '/submissions', HELLO)).body.token;
    expect(await poll(r, token)).toMatchObject({ stdout: 'hello, Judge0\n', status: { id: 3 } });
    expect((await r.api('GET', `/v1/jobs/${token}`)).body.driver).toBe('gvisor');
    const hog = await run(r, { language_id: 71, source_code: HOG_PY, memory_limit: 64_000 });
    expect(hog).toMatchObject({ status: { id: 12 }, message: 'Memory limit exceeded' });
  }, 180_000);
});
