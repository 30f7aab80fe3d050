import { describe, expect, it } from 'vitest';
import { type CompileResult, type JudgeResult, overall, type TestResult } from '../../../judge/result.js';
import { pistonResult } from './response.js';

const test = (over: Partial<TestResult>): TestResult => ({
  name: 'run',
  verdict: 'accepted',
  cpu_ms: 12,
  wall_ms: 20,
  memory_kb: 8000,
  exit_code: 0,
  signal: null,
  stdout: 'out\n',
  stderr: 'err\n',
  output_truncated: false,
  ...over,
});
const result = (t: TestResult, compile?: CompileResult): JudgeResult => ({
  ...overall([t]),
  language: { id: 'c', name: 'C', version: '12.2.0' },
  ...(compile ? { compile } : {}),
  tests: [t],
  limits: {},
});
const compiled = (over: Partial<CompileResult> = {}): CompileResult => ({
  exit_code: 0,
  signal: null,
  output: '',
  wall_ms: 300,
  cpu_ms: 250,
  memory_kb: 30_000,
  verdict: 'accepted',
  ...over,
});
const meta = { language: 'c', version: '12.2.0', jobId: 'job_x' };

describe('Piston execute answers', () => {
  it('a run that exited: its streams, stdout then stderr in output, code, figures in Piston units', () => {
    const r = pistonResult(result(test({}), compiled()), meta);
    expect(r.run).toEqual({
      stdout: 'out\n',
      stderr: 'err\n',
      output: 'out\nerr\n',
      code: 0,
      signal: null,
      status: null,
      message: null,
      memory: 8000 * 1024,
      cpu_time: 12,
      wall_time: 20,
      verdict: 'accepted',
    });
    expect(r.compile).toMatchObject({ code: 0, status: null, verdict: 'accepted' });
    expect(r).toMatchObject({ language: 'c', version: '12.2.0', job_id: 'job_x' });
  });

  it('limits and crashes as isolate-based Piston says them', () => {
    const of = (t: Partial<TestResult>) => pistonResult(result(test(t)), meta).run;
    expect(of({ verdict: 'runtime_error', exit_code: 3 })).toMatchObject({ code: 3, signal: null, status: 'RE', message: 'Exited with error status 3' });
    expect(of({ verdict: 'runtime_error', exit_code: 139, signal: 'SIGSEGV' })).toMatchObject({ code: null, signal: 'SIGSEGV', status: 'SG', message: 'Caught fatal signal 11' });
    expect(of({ verdict: 'time_limit_exceeded', limit: 'wall', exit_code: null })).toMatchObject({ code: null, signal: 'SIGKILL', status: 'TO', message: 'Time limit exceeded (wall clock)' });
    expect(of({ verdict: 'output_limit_exceeded', exit_code: 0 })).toMatchObject({ code: null, signal: 'SIGKILL', status: 'OL' });
    expect(of({ verdict: 'memory_limit_exceeded', signal: 'SIGKILL', exit_code: 137 })).toMatchObject({ code: null, status: 'SG', message: 'Memory limit exceeded', verdict: 'memory_limit_exceeded' });
  });

  it('a compile error is the run stage too, as Piston answers when the run never started', () => {
    const t = test({ verdict: 'skipped', exit_code: null, stdout: '', stderr: '' });
    const r = pistonResult(result(t, compiled({ verdict: 'compilation_error', exit_code: 1, output: 'note\nmain.c:1: error', stdout: 'note\n', stderr: 'main.c:1: error' })), meta);
    expect(r.compile).toMatchObject({ stdout: 'note\n', stderr: 'main.c:1: error', output: 'note\nmain.c:1: error', code: 1, status: 'RE' });
    // A result stored before the streams were kept apart: its output is given as stderr.
    const old = pistonResult(result(t, compiled({ verdict: 'compilation_error', exit_code: 1, output: 'main.c:1: error' })), meta);
    expect(old.compile).toMatchObject({ stdout: '', stderr: 'main.c:1: error', output: 'main.c:1: error' });
    expect(r.run).toEqual(r.compile);
  });

  it("Paddock's own failures are a 500, never the program's answer", () => {
    expect(() => pistonResult(result(test({ verdict: 'internal_error', message: 'driver_error: gone' })), meta)).toThrow(/runner's side.*driver_error/);
    expect(() => pistonResult(result(test({}), compiled({ verdict: 'internal_error' })), meta)).toThrow(/compiling failed/);
  });
});
