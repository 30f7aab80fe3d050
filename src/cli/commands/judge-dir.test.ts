import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIR_BOUNDS, parseTests, readJudgeDir, writeResults } from './judge-dir.js';

const dirs: string[] = [];
const dirWith = (files: Record<string, string>): string => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-judge-dir-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const TESTS = JSON.stringify([{ input: '2 3\n', expected: '5\n' }]);
const message = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('not refused');
};
const decoded = (files: { name: string; content: string }[]) => Object.fromEntries(files.map((f) => [f.name, Buffer.from(f.content, 'base64').toString()]));

describe('paddock judge: the directory', () => {
  it('finds the language from main.<ext>; sends main and the other sources of its language, not the rest', () => {
    const dir = dirWith({ 'main.c': 'int main(){}', 'add.c': 'int add;', 'tests.json': TESTS, 'README.md': 'x', '.hidden.c': 'no' });
    mkdirSync(path.join(dir, 'sub'));
    const found = readJudgeDir(dir);
    expect(found.language.id).toBe('c');
    expect(decoded(found.files)).toEqual({ 'main.c': 'int main(){}', 'add.c': 'int add;' });
    expect(found.tests).toEqual([{ stdin: '2 3\n', expected_output: '5\n' }]);
    expect(readJudgeDir(dirWith({ 'main.java': 'class Main {}', 'tests.json': TESTS })).files[0]!.name).toBe('Main.java');
  });

  it('asks for --language when several main files are there, and checks the one asked for', () => {
    const dir = dirWith({ 'main.py': '', 'main.sh': '', 'tests.json': TESTS });
    expect(message(() => readJudgeDir(dir))).toMatch(/several main files \(main\.py, main\.sh\); pick one with --language/);
    expect(readJudgeDir(dir, { language: 'sh' }).language.id).toBe('bash');
    expect(message(() => readJudgeDir(dir, { language: 'c' }))).toMatch(/has no main\.c for --language c/);
    expect(message(() => readJudgeDir(dir, { language: 'cobol' }))).toMatch(/no judge language "cobol"/);
    expect(message(() => readJudgeDir(dirWith({ 'tests.json': TESTS })))).toMatch(/no main file of a judge language/);
    expect(message(() => readJudgeDir(dirWith({ 'main.py': '' })))).toMatch(/has no tests\.json/);
  });

  it('refuses symlinks (in it, or the directory itself), FIFOs, and files past their bound', () => {
    const dir = dirWith({ 'main.py': '', 'tests.json': TESTS });
    symlinkSync('/etc/passwd', path.join(dir, 'helper.py'));
    expect(message(() => readJudgeDir(dir))).toMatch(/helper\.py is a symlink/);
    const linked = dirWith({});
    rmSync(linked, { recursive: true });
    symlinkSync(dirWith({ 'main.py': '', 'tests.json': TESTS }), linked);
    expect(message(() => readJudgeDir(linked))).toMatch(/is a symlink; give the directory itself/);
    const fifo = dirWith({ 'main.py': '', 'tests.json': TESTS });
    execFileSync('mkfifo', [path.join(fifo, 'data.txt')]);
    expect(message(() => readJudgeDir(fifo))).toMatch(/data\.txt is not a plain file/);
    const big = dirWith({ 'main.py': 'x'.repeat(DIR_BOUNDS.sourceBytes + 1), 'tests.json': TESTS });
    expect(message(() => readJudgeDir(big))).toMatch(/main\.py is \d+ bytes; paddock judge sends at most/);
  });

  it('tests.json: the runner-image shape becomes the spec shape; the spec shape passes as it is', () => {
    expect(parseTests('[{"input":"1","expected":"2","name":"one","id":7},{"expected":"x"},{"stdin":"s","args":["a"]}]')).toEqual([
      { name: 'one', stdin: '1', expected_output: '2' },
      { stdin: '', expected_output: 'x' },
      { stdin: 's', args: ['a'] },
    ]);
    expect(message(() => parseTests('{'))).toMatch(/tests\.json is not JSON/);
    expect(message(() => parseTests('[]'))).toMatch(/non-empty array/);
    expect(message(() => parseTests('[{"input":5,"expected":"5"}]'))).toBe('tests.json[0].input must be a string');
    expect(message(() => parseTests('[3]'))).toBe('tests.json[0] must be an object');
  });

  it('results.json replaces the old one whole, never through a link', () => {
    const dir = dirWith({ 'results.json': 'old' });
    const file = writeResults(dir, { verdict: 'accepted' });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ verdict: 'accepted' });
    const outside = dirWith({ 'victim.txt': 'keep' });
    rmSync(file);
    symlinkSync(path.join(outside, 'victim.txt'), file);
    writeResults(dir, { verdict: 'wrong_answer' });
    expect(readFileSync(path.join(outside, 'victim.txt'), 'utf8')).toBe('keep');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ verdict: 'wrong_answer' });
  });
});
