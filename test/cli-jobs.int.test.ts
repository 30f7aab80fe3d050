import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeWithin } from './helpers/api.js';
import { CLI, cliEnv, runCli } from './helpers/cli.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';

// The job commands, which go through the typed client (src/client/) the package exports.
describe('paddock run / jobs through the client', () => {
  let r: TestRunner;
  const cli = (args: string[], input?: string) => runCli(args, { url: r.url, token: r.token, input });
  beforeAll(async () => {
    r = await startTestRunner();
  });
  afterAll(() => closeWithin(r));

  it('run streams stdout and stderr apart, sends stdin, and exits with the command’s code', async () => {
    const res = await cli(['run', '-i', '--', 'sh', '-c', 'cat; echo err >&2; exit 7'], 'from stdin\n');
    expect(res.stdout.toString()).toBe('from stdin\n');
    expect(res.stderr).toBe('err\n');
    expect(res.code).toBe(7);
  });

  it('run | head: the CLI ends with 141, as SIGPIPE would, without a stack trace', async () => {
    // stderr goes to a file and is printed after the status: it must be empty.
    const pipeline =
      `E=$(mktemp); "${process.execPath}" "${CLI}" run -- yes paddock 2>"$E" | head -n 2; ` +
      'echo "status ${PIPESTATUS[0]}"; cat "$E"; rm -f "$E"';
    const { stdout } = await promisify(execFile)('bash', ['-c', pipeline], { env: cliEnv(r.url, r.token), timeout: 30_000 });
    expect(stdout).toBe('paddock\npaddock\nstatus 141\n');
  });

  it('run --detach prints the id; jobs logs -f, show and ls find the job', async () => {
    const detached = await cli(['run', '--detach', '--', 'sh', '-c', 'echo one; sleep 0.3; echo two']);
    expect(detached.code).toBe(0);
    const id = detached.stdout.toString().trim();
    expect(id).toMatch(/^job_/);
    const logs = await cli(['jobs', 'logs', '-f', id]);
    expect([logs.code, logs.stdout.toString()]).toEqual([0, 'one\ntwo\n']);
    const show = JSON.parse((await cli(['jobs', 'show', '--json', id])).stdout.toString());
    expect([show.id, show.state, show.result.stdout]).toEqual([id, 'succeeded', 'one\ntwo\n']);
    const summary = (await cli(['jobs', 'show', id])).stdout.toString();
    expect(summary).toMatch(new RegExp(`^${id}  command  succeeded\n`));
    expect(summary).toMatch(/\nexit 0 · wall \d+ ms/);
    expect(summary).toContain(`stdout 8 B · stderr 0 B (paddock jobs logs ${id})`);
    const ls = JSON.parse((await cli(['jobs', 'ls', '--json', '--limit', '5'])).stdout.toString());
    expect(ls.jobs.map((j: { id: string }) => j.id)).toContain(id);
  });

  it('errors print paddock: <code>: <message> and exit with the code’s exit status', async () => {
    const res = await cli(['jobs', 'show', 'job_nope']);
    expect(res.stderr).toMatch(/^paddock: not_found: /);
    expect(res.code).toBe(4);
    const bad = await runCli(['jobs', 'ls'], { url: r.url, token: 'wrong' });
    expect(bad.stderr).toMatch(/^paddock: unauthorized: /);
    expect(bad.code).toBe(3);
  });

  it('the package exports the client as paddock/client (built, from dist)', async () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
    const script = [
      "import { PaddockClient, PaddockError } from 'paddock/client';",
      'const c = new PaddockClient({ url: process.argv[1], token: process.argv[2] });',
      "const job = await c.jobs.submit({ kind: 'command', command: ['echo', 'via package'] }, { wait: true });",
      "const err = await c.jobs.get('job_nope').catch((e) => e);",
      'console.log(JSON.stringify([job.state, job.result.stdout, err instanceof PaddockError, err.code]));',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, r.url, r.token], { cwd: root });
    expect(JSON.parse(stdout)).toEqual(['succeeded', 'via package\n', true, 'not_found']);
  });
});
