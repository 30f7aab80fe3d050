import { describe, expect, it } from 'vitest';
import { JudgeConfig } from '../../../config/judge.js';
import { PaddockError } from '../../../errors.js';
import type { LanguageStatus } from '../../../judge/health.js';
import { pistonExecute } from './request.js';
import { pistonRuntimes, semverOf, versionMatches } from './runtimes.js';

const judge = JudgeConfig.parse({});
const status = (over: Partial<Record<string, Partial<LanguageStatus>>> = {}): LanguageStatus[] =>
  [
    ['python', 'Python 3.11.2'],
    ['c', '12.2.0'],
    ['java', 'openjdk version "17.0.19" 2026-04-21'],
  ].map(([id, version]) => ({ id: id!, name: id!, version: version!, healthy: true, checked_at: 'now', ...over[id!] }));
const health = (list = status()) => ({
  list: () => list,
  check: (id: string) => {
    if (list.find((s) => s.id === id)?.healthy === false) throw new PaddockError('language_unhealthy', `${id} is unhealthy`);
  },
});
const execute = (body: unknown, h = health()) => pistonExecute(body, { judge, health: h });
const refusal = (body: unknown, h = health()) => {
  try {
    execute(body, h);
  } catch (err) {
    return { code: (err as PaddockError).code, message: (err as PaddockError).message };
  }
  throw new Error('not refused');
};
const ok = { language: 'python', version: '3.11.2', files: [{ content: 'print(1)' }] };

describe('Piston execute requests', () => {
  it("refuses in Piston's order, with its messages", () => {
    expect(refusal(undefined).message).toBe('language is required as a string');
    expect(refusal([1]).message).toBe('language is required as a string');
    expect(refusal({ language: 3 }).message).toBe('language is required as a string');
    expect(refusal({ language: 'python' }).message).toBe('version is required as a string');
    expect(refusal({ language: 'python', version: '3' }).message).toBe('files is required as an array');
    expect(refusal({ language: 'python', version: '3', files: [{ content: 'x' }, { name: 'a' }] }).message).toBe('files[1].content is required as a string');
    expect(refusal({ ...ok, language: 'cobol' }).message).toBe('cobol-3.11.2 runtime is unknown');
    expect(refusal({ ...ok, language: 'Python' }).message).toBe('Python-3.11.2 runtime is unknown'); // case counts, as in Piston
    expect(refusal({ ...ok, version: '9.x' }).message).toBe('python-9.x runtime is unknown');
    expect(refusal({ ...ok, version: 'latest' }).message).toBe('python-latest runtime is unknown');
    expect(refusal({ ...ok, files: [{ content: 'eA==', encoding: 'base64' }] }).message).toBe('files must include at least one utf8 encoded file');
    expect(refusal({ ...ok, run_timeout: '5' }).message).toBe('If specified, run_timeout must be a number');
    expect(refusal({ ...ok, run_timeout: 20_001 }).message).toBe('run_timeout cannot exceed the configured limit of 20000');
    expect(refusal({ ...ok, run_cpu_time: -5 }).message).toBe('run_cpu_time must be non-negative');
    expect(refusal({ ...ok, run_memory_limit: 513 * 1024 * 1024 }).message).toBe(`run_memory_limit cannot exceed the configured limit of ${512 * 1024 * 1024}`);
    // memory is checked before timeouts, compile before run
    expect(refusal({ ...ok, run_timeout: 1e9, compile_memory_limit: 1e12 }).message).toMatch(/^compile_memory_limit cannot exceed/);
  });

  it('a language whose smoke test failed is 503; one not yet tested has no version to match', () => {
    expect(refusal(ok, health(status({ python: { healthy: false } }))).code).toBe('language_unhealthy');
    expect(refusal(ok, health(status({ python: { healthy: null, version: null } }))).message).toMatch(/has not passed its smoke test yet/);
  });

  it('maps limits onto the judge (ms as they are, bytes up to whole MiB; -1 and 0: the default)', () => {
    const { spec } = execute({ ...ok, run_timeout: 1500, run_cpu_time: 999.2, run_memory_limit: 64 * 1024 * 1024 + 1, compile_timeout: 0 });
    expect(spec.limits).toEqual({ wall_time_ms: 1500, cpu_time_ms: 1000, memory_mb: 65 });
    expect(spec.compile_limits).toBeUndefined();
    expect(execute({ ...ok, run_memory_limit: -1 }).spec.limits).toEqual({});
    const c = execute({ language: 'gcc', version: '12', files: [{ content: 'int main(){}' }], compile_timeout: 30_000, compile_memory_limit: 1024 ** 3 });
    expect(c.language.id).toBe('c');
    expect(c.spec.compile_limits).toEqual({ wall_time_ms: 30_000, memory_mb: 1024 });
  });

  it('the first utf8 file is the program under its entry name; others keep theirs; hex becomes base64; stdin ends with a newline', () => {
    const { spec, version, language } = execute({
      language: 'py',
      version: '3.x',
      files: [
        { name: 'data.bin', content: '00ff', encoding: 'hex' },
        { name: 'solution.py', content: 'import helper' },
        { name: 'helper.py', content: 'x = 1' },
        { content: 'y', encoding: 'nonsense' },
      ],
      stdin: '1 2',
      args: ['a', 'b'],
    });
    expect([language.id, version]).toEqual(['python', '3.11.2']);
    expect(spec.files).toEqual([
      { name: 'data.bin', content: Buffer.from([0, 255]).toString('base64'), encoding: 'base64' },
      { name: 'main.py', content: 'import helper', encoding: 'utf8' },
      { name: 'helper.py', content: 'x = 1', encoding: 'utf8' },
      { name: 'file3.code', content: 'y', encoding: 'utf8' },
    ]);
    expect(spec.tests).toEqual([expect.objectContaining({ stdin: '1 2\n' })]);
    expect(spec.args).toEqual(['a', 'b']);
    expect(spec.compare).toBe('exact');
  });

  it('refuses what Paddock cannot write or run: paths, taken names, bad hex, bad args', () => {
    expect(refusal({ ...ok, files: [{ content: 'x' }, { name: 'lib/a.py', content: '' }] }).message).toMatch(/files\[1\]\.name "lib\/a\.py" must be a plain file name/);
    expect(refusal({ ...ok, files: [{ name: 'a.py', content: 'x' }, { name: 'main.py', content: '' }] }).message).toMatch(/is taken/);
    expect(refusal({ ...ok, files: [{ content: 'x' }, { name: 'b', content: 'zz', encoding: 'hex' }] }).message).toBe('files[1].content is not valid hex');
    expect(refusal({ ...ok, args: 'x' }).message).toBe('args must be an array of strings');
    expect(refusal({ ...ok, stdin: 5 }).message).toBe('stdin must be a string');
    expect(refusal({ ...ok, args: ['a\0b'] }).message).toMatch(/^args\.0: /);
  });
});

describe('Piston runtimes', () => {
  it('lists languages that passed their smoke test, with a semver of what they printed', () => {
    const list = status({ c: { healthy: false } });
    expect(pistonRuntimes({ list: () => list })).toEqual([
      { language: 'python', version: '3.11.2', aliases: ['py', 'py3', 'python3'] },
      { language: 'java', version: '17.0.19', aliases: [] },
    ]);
    expect(['v18.20.4', '5.2.15(1)-release', null].map(semverOf)).toEqual(['18.20.4', '5.2.15', null]);
  });

  it("matches selectors as Piston's semver.satisfies does", () => {
    expect(['*', '3', '3.11', '3.x', '3.11.2', '^3.10', '>=3 <4'].every((s) => versionMatches('3.11.2', s))).toBe(true);
    expect(['3.12', '2.x', 'latest', '=3.11.3'].some((s) => versionMatches('3.11.2', s))).toBe(false);
  });
});
