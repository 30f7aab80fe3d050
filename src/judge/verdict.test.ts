import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../sandbox/driver.js';
import { findLanguage } from './languages.js';
import { judgeTest, keep } from './verdict.js';

const limits = { cpu_time_ms: 1000, wall_time_ms: 2000, memory_mb: 64, pids: 32, output_bytes: 1024, file_size_kb: 64, stack_kb: 8192 };
const ok: ExecResult = {
  exitCode: 0,
  signal: null,
  stdout: '5\n',
  stderr: '',
  stdoutTruncated: false,
  stderrTruncated: false,
  wallMs: 12,
  cpuMs: 4,
  maxRssKb: 90_000,
  proc: { cpuMs: 3, maxRssKb: 3000, wallMs: 10 },
};
/** `expected` null: the test has no expected output. */
const run = (r: Partial<ExecResult>, expected: string | null = '5\n', language = 'c') =>
  judgeTest({ name: 't', result: { ...ok, ...r }, expected: expected ?? undefined, limits, compare: 'trim', language: findLanguage(language)!, keepBytes: 4 });

describe('judgeTest', () => {
  it('reads the program’s own figures, not the sandbox’s', () => {
    expect(run({})).toMatchObject({ verdict: 'accepted', cpu_ms: 3, memory_kb: 3000, wall_ms: 10 });
    expect(run({ proc: undefined })).toMatchObject({ cpu_ms: 4, memory_kb: 90_000, wall_ms: 12 });
  });

  it('a killed program is judged by the limit that killed it, memory before time before output', () => {
    expect(run({ signal: 'SIGKILL', exitCode: 137, limit: 'memory' })).toMatchObject({ verdict: 'memory_limit_exceeded', limit: 'memory' });
    expect(run({ signal: 'SIGKILL', exitCode: 137, limit: 'wall' })).toMatchObject({ verdict: 'time_limit_exceeded', limit: 'wall' });
    expect(run({ signal: 'SIGXCPU', exitCode: 152, limit: 'cpu' })).toMatchObject({ verdict: 'time_limit_exceeded', limit: 'cpu' });
    expect(run({ limit: 'output', stdoutTruncated: true })).toMatchObject({ verdict: 'output_limit_exceeded' });
    expect(run({ signal: 'SIGXFSZ', exitCode: 153, limit: 'file_size' })).toMatchObject({ verdict: 'runtime_error', limit: 'file_size' });
    // Over its memory although nothing killed it (under the sandbox's backstop): still over.
    expect(run({ proc: { cpuMs: 3, maxRssKb: 65 * 1024, wallMs: 10 } }).verdict).toBe('memory_limit_exceeded');
    expect(run({ proc: { cpuMs: 1001, maxRssKb: 1, wallMs: 1100 } }).verdict).toBe('time_limit_exceeded');
  });

  it('a runtime’s own overhead and heap errors count as the language says', () => {
    const rss = { proc: { cpuMs: 3, maxRssKb: 100 * 1024, wallMs: 10 } };
    expect(run(rss, '5\n', 'java').verdict).toBe('accepted'); // 64 MB heap + the JVM's 96
    expect(run(rss, '5\n', 'c').verdict).toBe('memory_limit_exceeded');
    expect(run({ exitCode: 1, stderr: 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space' }, '5\n', 'java').verdict).toBe('memory_limit_exceeded');
    expect(run({ exitCode: 1, stderr: 'MemoryError' }, '5\n', 'python').verdict).toBe('memory_limit_exceeded');
  });

  it('a crash or a non-zero exit is a runtime error; no expected output is accepted; otherwise compared', () => {
    expect(run({ signal: 'SIGSEGV', exitCode: 139 }).verdict).toBe('runtime_error');
    expect(run({ exitCode: 3 }).verdict).toBe('runtime_error');
    expect(run({ stdout: 'anything' }, null).verdict).toBe('accepted');
    expect(run({ stdout: '6\n' })).toMatchObject({ verdict: 'wrong_answer', diff_hint: 'line 1: expected "5", got "6"' });
  });

  it('keeps a bounded part of the output, on a character boundary', () => {
    expect(run({ stdout: '123456789' }, null)).toMatchObject({ stdout: '1234', output_truncated: true });
    expect(keep('ééé', 3)).toEqual({ text: 'é', cut: true });
  });
});
