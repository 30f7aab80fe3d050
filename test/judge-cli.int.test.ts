import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { judgeImageMissing, startJudgeRunner } from './helpers/judge-env.js';
import type { TestRunner } from './helpers/runner.js';
import { hostUser } from './helpers/sandbox.js';

// `paddock judge ./dir` (the runner-image contract) with the built CLI against a real runner on bwrap.
const CI = process.env.CI === 'true';
const missing = judgeImageMissing();

const SUM = 'a, b = map(int, input().split())\nprint(a + b)\n';
const TESTS = [
  { input: '2 3\n', expected: '5\n' },
  { input: '-4 1\n', expected: '-3\n' },
  { name: 'big', input: '1000000000 1000000000\n', expected: '2000000000\n' },
];

describe('paddock judge ./dir', () => {
  let runner: TestRunner;
  let root: string;
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    runner = await startJudgeRunner({ ...hostUser(64_300) });
    root = mkdtempSync(path.join(os.tmpdir(), 'paddock-judge-cli-'));
  });
  if (missing && !CI) return void it.skip(`needs: ${missing}`);
  afterAll(async () => {
    await runner?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const dirWith = (name: string, files: Record<string, string>) => {
    const dir = path.join(root, name);
    mkdirSync(dir);
    for (const [f, content] of Object.entries(files)) writeFileSync(path.join(dir, f), content);
    return dir;
  };
  const judge = (args: string[]) => runCli(['judge', ...args], { url: runner.url, token: runner.token, timeoutMs: 90_000 });
  const results = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8'));

  it('main.py + tests.json: results.json, the verdict table, exit 0', async () => {
    const dir = dirWith('sum', { 'main.py': SUM, 'tests.json': JSON.stringify(TESTS) });
    const r = await judge([dir]);
    expect(r.code, r.stderr).toBe(0);
    const written = results(dir);
    expect(written).toMatchObject({ verdict: 'accepted', counts: { accepted: 3, wrong_answer: 0 }, language: { id: 'python' } });
    expect(written.tests.map((t: { name: string; verdict: string }) => [t.name, t.verdict])).toEqual([
      ['test 1', 'accepted'],
      ['test 2', 'accepted'],
      ['big', 'accepted'],
    ]);
    const out = r.stdout.toString();
    expect(out).toMatch(/^verdict: accepted \(3 accepted\) · Python 3( \S+)?\n/); // the version is known once smoke tests ran
    expect(out).toMatch(/\nTEST\s+VERDICT\s+CPU\s+WALL\s+MEMORY\s+EXIT\s+NOTE\n/);
    expect(out).toMatch(/\nbig\s+accepted\s+\d+ ms\s+\d+ ms\s+[\d.]+ (KiB|MiB)\s+0\n/);
    expect(r.stderr).toContain(`wrote ${path.join(dir, 'results.json')}`);

    const json = await judge([dir, '--json', '--language', 'python', '--driver', 'bwrap']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout.toString())).toEqual(results(dir));
  }, 120_000);

  it('a wrong answer exits 1, with the verdict and where it differs', async () => {
    const dir = dirWith('wrong', { 'main.py': 'a, b = map(int, input().split())\nprint(a - b if a < 0 else a + b)\n', 'tests.json': JSON.stringify(TESTS) });
    const r = await judge([dir]);
    expect(r.code, r.stderr).toBe(1);
    expect(results(dir)).toMatchObject({ verdict: 'wrong_answer', counts: { accepted: 2, wrong_answer: 1 } });
    expect(r.stdout.toString()).toMatch(/\ntest 2\s+wrong_answer\s.*line 1: expected "-3", got "-5"/);
  }, 120_000);

  it("the spec's test shape and a compiled language: a compile error exits 1", async () => {
    const tests = JSON.stringify([{ name: 'spec-shaped', stdin: '1 2\n', expected_output: '3\n' }]);
    const dir = dirWith('c', { 'main.c': 'int main( {\n', 'tests.json': tests });
    const r = await judge([dir]);
    expect(r.code, r.stderr).toBe(1);
    expect(results(dir)).toMatchObject({ verdict: 'compilation_error', tests: [{ name: 'spec-shaped', verdict: 'skipped' }] });
    expect(r.stdout.toString()).toMatch(/compile: compilation_error/);
  }, 120_000);

  it('a directory with a symlink is refused before anything is sent (exit 2)', async () => {
    const dir = dirWith('linked', { 'main.py': SUM, 'tests.json': JSON.stringify(TESTS) });
    symlinkSync('/etc/shadow', path.join(dir, 'secret.py'));
    const before = (await runner.api('GET', '/v1/jobs')).body.jobs.length;
    const r = await judge([dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^paddock: validation_failed: .*secret\.py is a symlink/);
    expect(existsSync(path.join(dir, 'results.json'))).toBe(false);
    expect((await runner.api('GET', '/v1/jobs')).body.jobs.length).toBe(before);
  });

  it("the runner's refusals keep their usual exit codes", async () => {
    const dir = dirWith('refused', { 'main.py': SUM, 'tests.json': JSON.stringify([{ input: '1', expected: '1', stdin_encoding: 'x' }, { stdin: '', bogus: 1 }]) });
    const r = await judge([dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^paddock: validation_failed: /);
    const auth = await runCli(['judge', dirWith('auth', { 'main.py': SUM, 'tests.json': JSON.stringify(TESTS) })], { url: runner.url, token: 'pdk_wrong' });
    expect(auth.code).toBe(3);
  });
});

