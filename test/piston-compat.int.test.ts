import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { semverOf } from '../src/server/compat/piston/runtimes.js';
import { closeRunner, dockerMissing, pollUntil, removeRunnerContainers } from './helpers/docker.js';
import { judgeImageMissing, startJudgeRunner } from './helpers/judge-env.js';
import type { TestRunner } from './helpers/runner.js';
import { hostUser } from './helpers/sandbox.js';

// The Piston v2 compatible API (src/server/compat/piston/) over real judge jobs: execute in
// python, c and java, runtimes with the smoke-tested versions, every refusal in Piston's shape.
const CI = process.env.CI === 'true';
const BWRAP_UID = 64_300;
const DOCKER_UID = 330_000;
const missing = judgeImageMissing();

/** A runner whose judge languages have all been smoke-tested (the Piston API takes their versions from there). */
async function smokedRunner(flags: Record<string, unknown>): Promise<TestRunner> {
  const runner = await startJudgeRunner({ ...flags, judge: { smoke: true, smoke_interval_ms: 0 } });
  await runner.rt.judge.checkAll();
  const unhealthy = runner.rt.judge.list().filter((s) => !s.healthy);
  if (unhealthy.length) throw new Error(`smoke tests failed: ${JSON.stringify(unhealthy)}`);
  return runner;
}

const execute = (runner: TestRunner, body: unknown, headers?: Record<string, string>) => runner.api('POST', '/piston/api/v2/execute', body, headers);

describe('Piston API (bwrap)', () => {
  let runner: TestRunner;
  let versions: Record<string, string>;
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    runner = await smokedRunner({ ...hostUser(BWRAP_UID) });
    versions = Object.fromEntries(runner.rt.judge.list().map((s) => [s.id, semverOf(s.version)!]));
  }, 180_000);
  if (missing && !CI) return void it.skip(`needs: ${missing}`);
  afterAll(() => runner?.close());

  it('lists the runtimes with the versions their smoke tests printed', async () => {
    const res = await runner.api('GET', '/piston/api/v2/runtimes');
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(res.body.map((r: { language: string }) => [r.language, r]));
    expect(Object.keys(byName).sort()).toEqual(['bash', 'c', 'c++', 'java', 'javascript', 'python']);
    expect(byName.python).toEqual({ language: 'python', version: versions.python, aliases: ['py', 'py3', 'python3'] });
    expect(byName.python.version).toMatch(/^3\.\d+\.\d+$/);
    expect(byName.java.version).toMatch(/^17\.\d+\.\d+$/);
    expect(byName['c++']).toMatchObject({ version: versions.cpp, aliases: ['cpp', 'g++'] });
  });

  it('python: stdin (a newline added), args, both streams, exit code', async () => {
    const res = await execute(runner, {
      language: 'python',
      version: '3.x',
      files: [{ name: 'prog.py', content: 'import sys\nline = sys.stdin.readline()\nprint(repr(line), sys.argv[1:])\nprint("oops", file=sys.stderr)\nsys.exit(3)\n' }],
      stdin: '2 3',
      args: ['a', 'b c'],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ language: 'python', version: versions.python });
    expect(res.body.compile).toBeUndefined();
    expect(res.body.run).toMatchObject({
      stdout: "'2 3\\n' ['a', 'b c']\n",
      stderr: 'oops\n',
      output: "'2 3\\n' ['a', 'b c']\noops\n",
      code: 3,
      signal: null,
      status: 'RE',
      verdict: 'runtime_error',
    });
    expect(res.body.run.memory).toBeGreaterThan(0);
    const job = await runner.api('GET', `/v1/jobs/${res.body.job_id}`);
    expect(job.body).toMatchObject({ kind: 'judge', state: 'succeeded' });
  }, 60_000);

  it('c: a compile stage, then the run; several source files; a compile error is the run stage too', async () => {
    const res = await execute(runner, {
      language: 'c',
      version: versions.c,
      files: [
        { name: 'main.c', content: '#include <stdio.h>\nint twice(int);\nint main(void){int a;scanf("%d",&a);printf("%d\\n",twice(a));return 0;}\n' },
        { name: 'twice.c', content: 'int twice(int x){return 2*x;}\n' },
      ],
      stdin: '21\n',
      run_timeout: 2000,
      run_memory_limit: 64 * 1024 * 1024,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.compile).toMatchObject({ code: 0, signal: null, status: null, verdict: 'accepted' });
    expect(res.body.run).toMatchObject({ stdout: '42\n', stderr: '', output: '42\n', code: 0, signal: null, status: null });

    const broken = await execute(runner, { language: 'gcc', version: '*', files: [{ content: 'int main( {' }] });
    expect(broken.status, JSON.stringify(broken.body)).toBe(200);
    expect(broken.body.compile).toMatchObject({ status: 'RE', verdict: 'compilation_error', stdout: '' });
    expect(broken.body.compile.code).toBeGreaterThan(0);
    expect(broken.body.compile.stderr).toContain('main.c:1');
    expect(broken.body.run).toEqual(broken.body.compile);
  }, 90_000);

  it('java: compiled and run; a program past run_timeout is TO with SIGKILL', async () => {
    const res = await execute(runner, {
      language: 'java',
      version: '17',
      files: [{ name: 'Main.java', content: 'public class Main { public static void main(String[] a) { System.out.println("hi " + a.length); } }\n' }],
      args: ['x'],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ language: 'java', version: versions.java });
    expect(res.body.compile).toMatchObject({ code: 0, verdict: 'accepted' });
    expect(res.body.run).toMatchObject({ stdout: 'hi 1\n', code: 0 });

    const slow = await execute(runner, { language: 'py', version: '*', files: [{ content: 'import time\ntime.sleep(30)\n' }], run_timeout: 500 });
    expect(slow.status, JSON.stringify(slow.body)).toBe(200);
    expect(slow.body.run).toMatchObject({ code: null, signal: 'SIGKILL', status: 'TO', verdict: 'time_limit_exceeded' });
    expect(slow.body.run.wall_time).toBeLessThan(5000);
  }, 120_000);

  it('a client that goes away cancels its job', async () => {
    const abort = new AbortController();
    const pending = fetch(`${runner.url}/piston/api/v2/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${runner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'bash', version: '*', files: [{ content: 'sleep 15' }], run_timeout: 20_000 }),
      signal: abort.signal,
    }).catch(() => 'aborted');
    const running = await pollUntil(
      async () => (await runner.api('GET', '/v1/jobs?state=running')).body.jobs,
      (jobs: unknown[]) => jobs.length > 0,
      10_000,
      'the job running',
    );
    abort.abort();
    expect(await pending).toBe('aborted');
    const id = (running[0] as { id: string }).id;
    const ended = await pollUntil(async () => (await runner.api('GET', `/v1/jobs/${id}`)).body.state, (s) => s !== 'running', 10_000, 'the job ending');
    expect(ended).toBe('cancelled');
  }, 30_000);

  const ok = { language: 'python', version: '3', files: [{ content: 'print(1)' }] };
  it.each([
    ['an unknown language', { ...ok, language: 'cobol' }, 'cobol-3 runtime is unknown'],
    ['a version that does not match', { ...ok, version: '9.x' }, 'python-9.x runtime is unknown'],
    ['a version that is no range', { ...ok, version: 'latest' }, 'python-latest runtime is unknown'],
    ['missing files', { language: 'python', version: '3' }, 'files is required as an array'],
    ['a file without content', { ...ok, files: [{ name: 'a.py' }] }, 'files[0].content is required as a string'],
    ['no utf8 file', { ...ok, files: [{ content: 'cHJpbnQoMSk=', encoding: 'base64' }] }, 'files must include at least one utf8 encoded file'],
    ['run_timeout over the limit', { ...ok, run_timeout: 20_001 }, 'run_timeout cannot exceed the configured limit of 20000'],
    ['run_memory_limit over the limit', { ...ok, run_memory_limit: 2 ** 40 }, `run_memory_limit cannot exceed the configured limit of ${512 * 2 ** 20}`],
    ['a limit that is no number', { ...ok, compile_cpu_time: '5' }, 'If specified, compile_cpu_time must be a number'],
    ['a negative limit', { ...ok, run_cpu_time: -1 }, 'run_cpu_time must be non-negative'],
  ])("%s: 400 in Piston's shape", async (_, body, message) => {
    const res = await execute(runner, body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toEqual({ message });
  });

  it("bodies that are no JSON object, and requests without a token, in Piston's shape", async () => {
    const bad = await execute(runner, '{"language": "python",');
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body)).toEqual(['message']);
    expect(bad.body.message).toMatch(/not valid JSON/);
    const text = await execute(runner, 'hello', { 'content-type': 'text/plain' });
    expect([text.status, text.body]).toEqual([415, { message: 'requests must be of type application/json' }]);
    const array = await execute(runner, '[1,2]');
    expect([array.status, array.body]).toEqual([400, { message: 'language is required as a string' }]);
    const anonymous = await fetch(`${runner.url}/piston/api/v2/runtimes`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toEqual({ message: 'missing bearer token' });
    const nowhere = await runner.api('GET', '/piston/api/v2/packages');
    expect([nowhere.status, Object.keys(nowhere.body)]).toEqual([404, ['message']]);
  });
});

describe('Piston API: prefix and open loopback', () => {
  let open: TestRunner | undefined;
  let off: TestRunner | undefined;
  afterAll(async () => {
    await open?.close();
    await off?.close();
  });

  it('judge.piston_open_loopback lets loopback clients in without a token, under judge.piston_prefix', async () => {
    open = await startJudgeRunner({ ...hostUser(BWRAP_UID), judge: { smoke: false, piston_prefix: '/p', piston_open_loopback: true } });
    const res = await fetch(`${open.url}/p/api/v2/runtimes`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]); // no smoke tests: no version is known, so no runtime is listed
    const exec = await fetch(`${open.url}/p/api/v2/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'python', version: '*', files: [{ content: '' }] }) });
    expect(exec.status).toBe(503);
    expect((await exec.json()).message).toMatch(/judge\.smoke/);
    const wrong = await fetch(`${open.url}/p/api/v2/runtimes`, { headers: { authorization: 'Bearer pdk_nope' } });
    expect(wrong.status).toBe(401); // a token that is given is checked
    expect((await open.rt.store.listTokens()).map((t) => t.name)).toContain('piston-compat'); // its jobs' owner
    expect((await open.api('GET', '/piston/api/v2/runtimes')).status).toBe(404);
  });

  it('an empty judge.piston_prefix serves no Piston API', async () => {
    off = await startJudgeRunner({ ...hostUser(BWRAP_UID), judge: { smoke: false, piston_prefix: '' } });
    const res = await off.api('GET', '/piston/api/v2/runtimes');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('not_found'); // the native API's problem+json: nothing of Piston's is there
  });
});

const noDocker = missing ?? (await dockerMissing());
describe('Piston API (gvisor)', () => {
  let runner: TestRunner;
  beforeAll(async () => {
    if (noDocker) throw new Error(noDocker);
    runner = await smokedRunner({ drivers: ['gvisor'], docker: { uid_range_start: DOCKER_UID, uid_range_size: 20 } });
  }, 300_000);
  if (noDocker && !CI) return void it.skip(`needs: ${noDocker}`);
  afterAll(async () => {
    await closeRunner(runner);
    if (runner) await removeRunnerContainers(runner.dataDir);
  });

  it('python runs in gVisor', async () => {
    const res = await execute(runner, { language: 'python3', version: '*', files: [{ content: 'import os\nprint(int(input()) * 2, os.uname().release)\n' }], stdin: '21' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.run).toMatchObject({ code: 0, status: null });
    expect(res.body.run.stdout).toMatch(/^42 /);
    const job = await runner.api('GET', `/v1/jobs/${res.body.job_id}`);
    expect(job.body.driver).toBe('gvisor');
  }, 60_000);
});
