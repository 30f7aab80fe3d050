import { describe, expect, it } from 'vitest';
import { JudgeConfig } from '../../../config/judge.js';
import { encode64 } from './base64.js';
import { FieldErrors } from './errors.js';
import { parseFields } from './fields.js';
import { judge0Limits } from './limits.js';
import { ECHO_LABEL, LABEL_ARGUMENTS, LABEL_CALLBACK, parseSubmission } from './request.js';
import { shellWords } from './words.js';

const limits = judge0Limits(JudgeConfig.parse({}));
const ctx = { base64: false, limits, callbacks: { allow_private: false } };
const HELLO = { language_id: 71, source_code: 'print(input())\n', stdin: 'hi\n' };

function errorsOf(body: unknown, base64 = false): Record<string, string[]> {
  try {
    parseSubmission(body, { ...ctx, base64 });
  } catch (err) {
    if (err instanceof FieldErrors) return err.fields;
    throw err;
  }
  throw new Error('parsed');
}

describe('Judge0 limits', () => {
  it('are Judge0 CE’s defaults and caps on a default runner', () => {
    const d = Object.fromEntries(Object.entries(limits).map(([k, v]) => [k, [v.default, v.max]]));
    expect(d).toEqual({
      cpu_time_limit: [5, 15],
      cpu_extra_time: [1, 5],
      wall_time_limit: [10, 20],
      memory_limit: [128_000, 512_000],
      stack_limit: [64_000, 128_000],
      max_processes_and_or_threads: [60, 120],
      max_file_size: [1024, 4096],
      number_of_runs: [1, 20],
    });
  });

  it('never pass a runner’s lower caps', () => {
    const low = judge0Limits(JudgeConfig.parse({ limits: { max: { cpu_time_ms: 2000, memory_mb: 64 } } }));
    expect(low.cpu_time_limit).toMatchObject({ default: 2, max: 2 });
    expect(low.memory_limit).toMatchObject({ default: 65_536, max: 65_536 });
  });
});

describe('parseSubmission', () => {
  it('makes one judge test with Judge0’s defaults in the judge’s units', () => {
    const { spec, callbackUrl } = parseSubmission(HELLO, ctx);
    expect(callbackUrl).toBeUndefined();
    expect(spec).toMatchObject({
      kind: 'judge',
      language: 'python',
      source: 'print(input())\n',
      tests: [{ stdin: 'hi\n' }],
      compare: 'trim',
      stop_on_failure: true,
      limits: { cpu_time_ms: 5000, wall_time_ms: 10_000, memory_mb: 125, pids: 60, file_size_kb: 1024, output_bytes: 1024 * 1024, stack_kb: 64_000 },
    });
    expect(JSON.parse(spec.labels![ECHO_LABEL]!)).toMatchObject({ limits: { cpu_time_limit: 5, memory_limit: 128_000 }, redirect_stderr_to_stdout: false });
  });

  it('takes numbers as strings, seconds as floats, and number_of_runs as that many tests', () => {
    const { spec } = parseSubmission(
      { ...HELLO, language_id: '71', cpu_time_limit: '1.5', wall_time_limit: 2, memory_limit: 64_000, number_of_runs: 3, expected_output: 'hi' },
      ctx,
    );
    expect(spec.limits).toMatchObject({ cpu_time_ms: 1500, wall_time_ms: 2000, memory_mb: 63 });
    // stack_limit is the program's RLIMIT_STACK (KB); 0 is isolate's "none": the cap.
    expect(parseSubmission({ ...HELLO, stack_limit: 16_000 }, ctx).spec.limits).toMatchObject({ stack_kb: 16_000 });
    expect(parseSubmission({ ...HELLO, stack_limit: 0 }, ctx).spec.limits).toMatchObject({ stack_kb: 128_000 });
    expect(spec.tests).toHaveLength(3);
    expect(spec.tests[2]).toMatchObject({ stdin: 'hi\n', expected_output: 'hi' });
  });

  it('decodes base64 inputs, line breaks allowed; bytes that are not UTF-8 stay bytes', () => {
    const { spec } = parseSubmission(
      { language_id: 71, source_code: encode64(Buffer.from('print(1)\n')), stdin: encode64(Buffer.from([0xff, 0x0a])), expected_output: 'MQo=' },
      { ...ctx, base64: true },
    );
    expect(spec.source).toBe('print(1)\n');
    expect(spec.tests[0]).toMatchObject({ stdin: '/wo=', stdin_encoding: 'base64', expected_output: '1\n' });
  });

  it('refuses what Judge0 refuses, in its words, all at once', () => {
    expect(errorsOf({ source_code: 'x' })).toEqual({ language_id: ["can't be blank"] });
    expect(errorsOf({ language_id: 150000, source_code: 'x' })).toEqual({ language_id: ["language with id 150000 doesn't exist"] });
    expect(errorsOf({ language_id: 71 })).toEqual({ source_code: ["can't be blank"] });
    expect(errorsOf({ language_id: 71, source_code: '  \n' })).toEqual({ source_code: ["can't be blank"] });
    expect(
      errorsOf({ ...HELLO, cpu_time_limit: 16, wall_time_limit: 0.5, memory_limit: 600_000, max_processes_and_or_threads: 0, number_of_runs: 21 }),
    ).toEqual({
      cpu_time_limit: ['must be less than or equal to 15.0'],
      wall_time_limit: ['must be greater than or equal to 1.0'],
      memory_limit: ['must be less than or equal to 512000'],
      max_processes_and_or_threads: ['must be greater than 0'],
      number_of_runs: ['must be less than or equal to 20'],
    });
    expect(errorsOf({ ...HELLO, memory_limit: 'lots' })).toEqual({ memory_limit: ['is not a number'] });
    expect(errorsOf({ ...HELLO, stack_limit: 128_001 })).toEqual({ stack_limit: ['must be less than or equal to 128000'] });
    expect(errorsOf({ ...HELLO, stack_limit: '64000; ulimit -s unlimited' })).toEqual({ stack_limit: ['is not a number'] });
    expect(errorsOf({ ...HELLO, enable_network: true })).toEqual({ enable_network: ['enabling network is not allowed'] });
    expect(errorsOf({ ...HELLO, enable_per_process_and_thread_memory_limit: 'true' })).toEqual({
      enable_per_process_and_thread_memory_limit: ['this option cannot be enabled'],
    });
  });

  it('refuses bad base64 on the field that has it', () => {
    expect(errorsOf({ language_id: 71, source_code: 'cHJpbnQ=', stdin: '!!notbase64!!' }, true)).toEqual({
      stdin: ['is not valid base64 (base64_encoded=true)'],
    });
    expect(errorsOf({ language_id: 71, source_code: '%%%' }, true)).toEqual({ source_code: ['is not valid base64 (base64_encoded=true)'] });
    expect(errorsOf({ ...HELLO, additional_files: 'not base64 at all!' })).toEqual({ additional_files: ['is not valid base64 (base64_encoded=true)'] });
    expect(errorsOf({ ...HELLO, additional_files: Buffer.from('plain text').toString('base64') })).toEqual({ additional_files: ['is not a zip archive'] });
  });

  it('compiler options: stripped as Judge0 does, flags only, compiled languages only', () => {
    const c = { language_id: 50, source_code: 'int main(){}' };
    expect(parseSubmission({ ...c, compiler_options: '-O0 -DX=1; -Wall' }, ctx).spec.compile_options).toBe('-O0 -DX=1 -Wall');
    expect(errorsOf({ ...c, compiler_options: '-O2 /etc/shadow' })).toEqual({
      compiler_options: ['"/etc/shadow" is not a compiler flag (flags such as -O2, -DNAME=1 or -std=c++17)'],
    });
    expect(errorsOf({ ...HELLO, compiler_options: '-O2' })).toEqual({ compiler_options: ['setting compiler options is only allowed for compiled languages'] });
    expect(errorsOf({ ...c, compiler_options: '-O'.repeat(300) })).toEqual({ compiler_options: ['is too long (maximum is 512 characters)'] });
  });

  it('command line arguments: read as bash reads them after the stripping, kept as given for the echo', () => {
    const { spec } = parseSubmission({ ...HELLO, command_line_arguments: `one "two words" 'three' $(rm -rf /)` }, ctx);
    expect(spec.args).toEqual(['one', 'two words', 'three', '(rm', '-rf', '/)']);
    expect(spec.labels![LABEL_ARGUMENTS]).toBe(`one "two words" 'three' $(rm -rf /)`);
    expect(errorsOf({ ...HELLO, command_line_arguments: 'a "b' })).toEqual({ command_line_arguments: ['has an unterminated quote'] });
    expect(shellWords('a\\ b "c\\"d" \'e\\\'')).toEqual(['a b', 'c"d', 'e\\']);
  });

  it('callback_url: a public http(s) URL; private destinations are refused as native callbacks are', () => {
    expect(parseSubmission({ ...HELLO, callback_url: 'https://example.com/hook' }, ctx)).toMatchObject({
      callbackUrl: 'https://example.com/hook',
      spec: { labels: { [LABEL_CALLBACK]: 'https://example.com/hook' } },
    });
    expect(errorsOf({ ...HELLO, callback_url: 'http://127.0.0.1:9/x' }).callback_url![0]).toMatch(/loopback, private or link-local/);
    expect(errorsOf({ ...HELLO, callback_url: 'http://169.254.169.254/latest' }).callback_url![0]).toMatch(/private/);
    expect(errorsOf({ ...HELLO, callback_url: 'ftp://example.com/' })).toEqual({ callback_url: ['must be an http:// or https:// URL'] });
  });
});

describe('parseFields', () => {
  it('default, a subset in Judge0’s order, *, and unknown names', () => {
    expect(parseFields(undefined)).toEqual(['stdout', 'time', 'memory', 'stderr', 'token', 'compile_output', 'message', 'status']);
    expect(parseFields('status,stdout,token')).toEqual(['stdout', 'token', 'status']);
    expect(parseFields('*')).toContain('wall_time');
    expect(() => parseFields('stdout,bogus,nope')).toThrow('invalid fields: [bogus, nope]');
  });
});
