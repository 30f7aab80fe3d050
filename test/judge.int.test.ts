import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judge, judgeDrivers, startJudgeRunner, SUM_PROGRAMS, SUM_TESTS } from './helpers/judge-env.js';
import type { TestRunner } from './helpers/runner.js';

// Judge jobs on every driver: six languages, compile once and many tests, verdicts per test and overall.
const CI = process.env.CI === 'true';
const cases = await judgeDrivers({ bwrapUid: 64_500, dockerUid: 340_000 });

describe.each(cases)('judge jobs ($driver)', ({ driver, missing, flags }) => {
  let runner: TestRunner;
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    runner = await startJudgeRunner(flags);
  });
  if (missing && !CI) return void it.skip(`needs: ${missing}`);
  afterAll(() => runner?.close());

  it.each(Object.keys(SUM_PROGRAMS))('%s: every test accepted, with its own figures', async (language) => {
    const job = await judge(runner, { language, source: SUM_PROGRAMS[language], tests: SUM_TESTS });
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.reason).toBe('judged');
    expect(job.driver).toBe(driver);
    const r = job.result;
    expect(r.verdict, JSON.stringify(r)).toBe('accepted');
    expect(r.counts).toMatchObject({ accepted: 3, wrong_answer: 0 });
    expect(r.language.id).toBe(language);
    expect(r.tests.map((t: { name: string }) => t.name)).toEqual(['small', 'negative', 'big']);
    for (const t of r.tests) {
      expect(t).toMatchObject({ verdict: 'accepted', exit_code: 0, signal: null });
      expect(t.wall_ms).toBeGreaterThanOrEqual(0);
      expect(t.memory_kb).toBeGreaterThan(0);
    }
    if (['c', 'cpp', 'java'].includes(language)) expect(r.compile).toMatchObject({ verdict: 'accepted', exit_code: 0 });
    else expect(r.compile).toBeUndefined();
  }, 120_000);

  it('wrong answers say where they differ; overall is the first test that is not accepted', async () => {
    const job = await judge(runner, {
      language: 'python',
      source: 'a, b = map(int, input().split())\nprint(a - b if a < 0 else a + b)\n',
      tests: SUM_TESTS,
    });
    const r = job.result;
    expect(r.verdict).toBe('wrong_answer');
    expect(r.counts).toMatchObject({ accepted: 2, wrong_answer: 1 });
    expect(r.tests[1]).toMatchObject({ verdict: 'wrong_answer', stdout: '-5\n', diff_hint: 'line 1: expected "-3", got "-5"' });
  }, 60_000);

  it('a compile error ends judging with the compiler output, every test skipped', async () => {
    const job = await judge(runner, { language: 'c', source: 'int main( {\n', tests: SUM_TESTS });
    expect(job.state).toBe('succeeded');
    const r = job.result;
    expect(r.verdict).toBe('compilation_error');
    expect(r.compile.verdict).toBe('compilation_error');
    expect(r.compile.exit_code).not.toBe(0);
    expect(r.compile.output).toContain('main.c:1');
    expect(r.counts).toMatchObject({ skipped: 3, accepted: 0 });
  }, 60_000);

  it("deep recursion within stack_kb is accepted (Judge0's 64 MB default), past it a runtime error", async () => {
    // Each frame keeps 1 KiB live across the call, so 40000 of them need some 40 MiB of stack.
    const source = '#include <stdio.h>\nint f(int n){volatile char b[1024];b[0]=(char)n;if(n==0)return 0;int r=f(n-1);return r+1+b[0]*0;}\nint main(void){int n;if(scanf("%d",&n)!=1)return 2;printf("%d\\n",f(n));return 0;}\n';
    const tests = [{ stdin: '40000\n', expected_output: '40000\n' }];
    const deep = await judge(runner, { language: 'c', source, tests });
    expect(deep.result.tests[0], JSON.stringify(deep.result.tests[0])).toMatchObject({ verdict: 'accepted' });
    expect(deep.result.limits.stack_kb).toBe(64_000);
    const small = await judge(runner, { language: 'c', source, tests, limits: { stack_kb: 8000 } });
    expect(small.result.tests[0], JSON.stringify(small.result.tests[0])).toMatchObject({ verdict: 'runtime_error', signal: 'SIGSEGV' });
  }, 60_000);

  it('cpu_extra_ms lets a program run past cpu_time_ms before it is killed; it is time_limit_exceeded either way', async () => {
    // Burns 1.5 s of CPU, then says so.
    const source = '#include <stdio.h>\n#include <time.h>\nint main(void){volatile unsigned long x=0;while(clock()<CLOCKS_PER_SEC*3/2)x++;puts("done");return 0;}\n';
    const tests = [{ stdin: '', expected_output: 'done\n' }];
    const killed = await judge(runner, { language: 'c', source, tests, limits: { cpu_time_ms: 1000 } });
    expect(killed.result.tests[0], JSON.stringify(killed.result.tests[0])).toMatchObject({ verdict: 'time_limit_exceeded', stdout: '' });
    const extra = await judge(runner, { language: 'c', source, tests, limits: { cpu_time_ms: 1000, cpu_extra_ms: 2000 } });
    const t = extra.result.tests[0];
    expect(t, JSON.stringify(t)).toMatchObject({ verdict: 'time_limit_exceeded', stdout: 'done\n', exit_code: 0 });
    expect(t.cpu_ms).toBeGreaterThan(1000);
    expect(extra.result.limits).toMatchObject({ cpu_time_ms: 1000, cpu_extra_ms: 2000 });
    const over = await runner.api('POST', '/v1/jobs', { kind: 'judge', language: 'c', source, tests, limits: { cpu_extra_ms: 5001 } });
    expect([over.status, over.body.code]).toEqual([422, 'limit_exceeded']);
  }, 90_000);

  it('compare modes, per-test args and files, several source files, parallel sandboxes', async () => {
    const tokens = await judge(runner, {
      language: 'bash',
      source: 'printf "%s  %s\\n" "$1" "$(cat data.txt)"\n',
      args: ['fixed'],
      compare: 'tokens',
      parallel: 2,
      tests: [1, 2, 3, 4].map((i) => ({ name: `t${i}`, files: [{ name: 'data.txt', content: `d${i}` }], expected_output: `fixed d${i}` })),
    });
    expect(tokens.result.verdict, JSON.stringify(tokens.result)).toBe('accepted');
    const floats = await judge(runner, { language: 'python', source: 'print(1/3)\n', compare: 'float:1e-6', tests: [{ expected_output: '0.333333' }] });
    expect(floats.result.verdict).toBe('accepted');
    const multi = await judge(runner, {
      language: 'c',
      files: [
        { name: 'main.c', content: 'int add(int, int);\n#include <stdio.h>\nint main(void) { printf("%d\\n", add(2, 3)); return 0; }\n' },
        { name: 'add.c', content: 'int add(int a, int b) { return a + b; }\n' },
      ],
      compile_options: '-O0 -Wall',
      tests: [{ expected_output: '5\n' }],
    });
    expect(multi.result.verdict, JSON.stringify(multi.result)).toBe('accepted');
  }, 120_000);
});

describe('judge jobs: bad input', () => {
  let runner: TestRunner;
  beforeAll(async () => {
    runner = await startJudgeRunner({});
  });
  afterAll(() => runner?.close());

  it.each([
    ['unknown language', { language: 'cobol', source: 'x', tests: [{}] }, 422, 'unknown_language'],
    ['missing source', { language: 'python', tests: [{}] }, 400, 'validation_failed'],
    ['both source and files', { language: 'python', source: 'x', files: [{ name: 'a.py', content: 'x' }], tests: [{}] }, 400, 'validation_failed'],
    ['no tests', { language: 'python', source: 'x', tests: [] }, 400, 'validation_failed'],
    ['bad base64', { language: 'python', source: 'x', tests: [{ stdin: '!!!', stdin_encoding: 'base64' }] }, 400, 'validation_failed'],
    ['limits beyond the caps', { language: 'python', source: 'x', tests: [{}], limits: { cpu_time_ms: 60_000 } }, 422, 'limit_exceeded'],
    ['a stack beyond its cap', { language: 'c', source: 'x', tests: [{}], limits: { stack_kb: 128_001 } }, 422, 'limit_exceeded'],
    ['a stack of no size', { language: 'c', source: 'x', tests: [{}], limits: { stack_kb: 0 } }, 400, 'validation_failed'],
    ['a stack that is a string', { language: 'c', source: 'x', tests: [{}], limits: { stack_kb: '64000; ulimit -s unlimited' } }, 400, 'validation_failed'],
    ['too many tests', { language: 'python', source: 'x', tests: Array.from({ length: 501 }, () => ({})) }, 422, 'limit_exceeded'],
    ['a file name with a directory', { language: 'python', files: [{ name: '../x.py', content: 'x' }], tests: [{}] }, 400, 'validation_failed'],
    ['a compile option that is not a flag', { language: 'c', source: 'x', compile_options: '-O2 ; rm -rf /', tests: [{}] }, 400, 'validation_failed'],
    ['a bad compare mode', { language: 'python', source: 'x', compare: 'regex', tests: [{}] }, 400, 'validation_failed'],
  ])('%s: %s %s', async (_, body, status, code) => {
    const res = await runner.api('POST', '/v1/jobs', { kind: 'judge', ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body.code).toBe(code);
  });

  it('lists the languages with their Judge0 ids', async () => {
    const res = await runner.api('GET', '/v1/judge/languages');
    expect(res.status).toBe(200);
    const ids = Object.fromEntries(res.body.languages.map((l: { id: string; judge0_id: number }) => [l.id, l.judge0_id]));
    expect(ids).toEqual({ python: 71, javascript: 63, c: 50, cpp: 54, java: 62, bash: 46 });
  });
});
