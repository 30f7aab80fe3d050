import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isGitRefName } from '../agents/grammar.js';
import { branchName, slugOf } from './branch.js';

/** git's own judgement of a branch name. */
function gitAccepts(name: string): boolean {
  try {
    execFileSync('git', ['check-ref-format', '--branch', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('branchName', () => {
  it('is paddock/issue-N-<slug> with a lower-case ASCII slug', () => {
    expect(branchName({ number: 12, title: 'Crash when the config file is empty' })).toBe('paddock/issue-12-crash-when-the-config-file-is-empty');
    expect(branchName({ number: 3, title: '  Fix: `paddock run` -- exits 2?! ' })).toBe('paddock/issue-3-fix-paddock-run-exits-2');
  });

  it('folds accents and drops what has no ASCII form', () => {
    expect(slugOf('Café crème brûlée')).toBe('cafe-creme-brulee');
    expect(slugOf('Ｆｕｌｌｗｉｄｔｈ ①')).toBe('fullwidth-1');
    expect(branchName({ number: 9, title: '修正: 日本語のタイトル 🚀' })).toBe('paddock/issue-9');
    expect(branchName({ number: 9, title: '' })).toBe('paddock/issue-9');
    expect(branchName({ number: 9, title: '🚀 rocket' })).toBe('paddock/issue-9-rocket');
  });

  it('keeps a huge title to 40 characters without a trailing dash', () => {
    const name = branchName({ number: 1, title: 'word '.repeat(100_000) });
    expect(name.length).toBeLessThanOrEqual('paddock/issue-1-'.length + 40);
    expect(name.endsWith('-')).toBe(false);
    expect(slugOf('a'.repeat(39) + ' b')).toBe('a'.repeat(39));
  });

  it('never makes a name git or the grammar refuses, whatever the title', () => {
    const tricky = ['..', '.lock', 'a.lock', '-rf', '@{u}', 'HEAD', 'x//y', 'a~1^2:3?*[', '\\', '\u0000\u001f\u007f', 'refs/heads/main', '.hidden.', 'ends.', '/'];
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 200; i++) {
      tricky.push(Array.from({ length: 1 + Math.floor(rand() * 60) }, () => String.fromCodePoint(Math.floor(rand() * 0x3000))).join(''));
    }
    for (const title of tricky) {
      const name = branchName({ number: 1 + Math.floor(rand() * 1e9), title });
      expect(isGitRefName(name), name).toBe(true);
      expect(gitAccepts(name), name).toBe(true);
      expect(name).toMatch(/^paddock\/issue-[0-9]+(-[a-z0-9]+(-[a-z0-9]+)*)?$/);
    }
  });
});
