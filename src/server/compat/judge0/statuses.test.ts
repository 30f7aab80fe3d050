import { describe, expect, it } from 'vitest';
import type { JudgeResult, TestResult } from '../../../judge/result.js';
import { outcomeOf, STATUSES, statusOfTest } from './statuses.js';

const test = (over: Partial<TestResult>): TestResult => ({
  name: 'test 1',
  verdict: 'accepted',
  cpu_ms: 12,
  wall_ms: 30,
  memory_kb: 3000,
  exit_code: 0,
  signal: null,
  stdout: 'ok\n',
  stderr: '',
  output_truncated: false,
  ...over,
});

const result = (tests: TestResult[], compile?: JudgeResult['compile']): JudgeResult => ({
  verdict: tests[0]?.verdict ?? 'accepted',
  counts: {} as JudgeResult['counts'],
  language: { id: 'c', name: 'C (GCC)', version: '12.2.0' },
  ...(compile ? { compile } : {}),
  tests,
  limits: {},
});

const done = (r: JudgeResult | null, over: Partial<Parameters<typeof outcomeOf>[0]> = {}) =>
  outcomeOf({ state: 'succeeded', result: r, why: null, expected: undefined, redirect: false, ...over });

describe('Judge0 statuses', () => {
  it('are Judge0 CE’s fourteen, in order', () => {
    expect(STATUSES.map((s) => s.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(STATUSES[11]).toEqual({ id: 12, description: 'Runtime Error (Other)' });
  });

  it.each([
    [{ verdict: 'accepted' }, 3, null],
    [{ verdict: 'wrong_answer' }, 4, null],
    [{ verdict: 'time_limit_exceeded', limit: 'cpu' }, 5, 'Time limit exceeded'],
    [{ verdict: 'time_limit_exceeded', limit: 'wall' }, 5, 'Time limit exceeded (wall clock)'],
    [{ verdict: 'memory_limit_exceeded', limit: 'memory' }, 12, 'Memory limit exceeded'],
    [{ verdict: 'runtime_error', signal: 'SIGSEGV', exit_code: 139 }, 7, 'Caught fatal signal 11'],
    [{ verdict: 'runtime_error', signal: 'SIGXFSZ' }, 8, 'Caught fatal signal 25'],
    [{ verdict: 'runtime_error', signal: 'SIGFPE' }, 9, 'Caught fatal signal 8'],
    [{ verdict: 'runtime_error', signal: 'SIGABRT' }, 10, 'Caught fatal signal 6'],
    [{ verdict: 'runtime_error', signal: 'SIGILL' }, 12, 'Caught fatal signal 4'],
    [{ verdict: 'runtime_error', exit_code: 3 }, 11, 'Exited with error status 3'],
    [{ verdict: 'runtime_error', limit: 'file_size' }, 8, 'File size limit exceeded'],
    [{ verdict: 'output_limit_exceeded', limit: 'output' }, 8, 'Output limit exceeded'],
    [{ verdict: 'internal_error', message: 'the sandbox died' }, 13, 'the sandbox died'],
  ] as const)('%o → %i', (over, status, message) => {
    expect(statusOfTest(test(over as Partial<TestResult>))).toEqual({ status, message });
  });

  it('queued is 1, running is 2, an end without a result is 13 with why', () => {
    expect(outcomeOf({ state: 'queued', result: null, why: null, expected: undefined, redirect: false }).status).toBe(1);
    expect(outcomeOf({ state: 'running', result: null, why: null, expected: undefined, redirect: false }).status).toBe(2);
    expect(done(null, { state: 'failed', why: 'driver_error' })).toMatchObject({ status: 13, message: 'driver_error' });
  });

  it('a compile error is 6 with the compiler’s output and nothing of a run', () => {
    const o = done(
      result([test({ verdict: 'skipped' })], { verdict: 'compilation_error', exit_code: 1, signal: null, output: 'main.c:1: error', wall_ms: 5, cpu_ms: 4, memory_kb: 9 }),
    );
    expect(o).toEqual({
      status: 6,
      compile_output: 'main.c:1: error',
      message: null,
      stdout: null,
      stderr: null,
      time: null,
      wall_time: null,
      memory: null,
      exit_code: null,
      exit_signal: null,
    });
    const slow = done(result([], { verdict: 'time_limit_exceeded', exit_code: null, signal: 'SIGKILL', output: '', wall_ms: 1, cpu_ms: 1, memory_kb: 1 }));
    expect(slow).toMatchObject({ status: 6, compile_output: 'Compilation time limit exceeded.' });
  });

  it('runs: time and memory averaged, the rest from the last run; a signalled program’s exit code reads 0', () => {
    const o = done(
      result([
        test({ cpu_ms: 10, memory_kb: 1000 }),
        test({ cpu_ms: 30, memory_kb: 2001, wall_ms: 45, verdict: 'runtime_error', signal: 'SIGSEGV', exit_code: 139, stdout: '', stderr: 'boom' }),
        test({ verdict: 'skipped', cpu_ms: null, memory_kb: null }),
      ]),
    );
    expect(o).toMatchObject({ status: 7, time: 0.02, memory: 1500, wall_time: 0.045, exit_code: 0, exit_signal: 11, stdout: null, stderr: 'boom' });
  });

  it('redirect_stderr_to_stdout: stderr after stdout, and expected_output held against both', () => {
    const r = result([test({ stdout: 'a\n', stderr: 'b\n', verdict: 'wrong_answer' })]);
    expect(done(r, { redirect: true, expected: 'a\nb\n' })).toMatchObject({ status: 3, stdout: 'a\nb\n', stderr: null });
    expect(done(r, { redirect: true, expected: 'a\n' }).status).toBe(4);
  });
});
