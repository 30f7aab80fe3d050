import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { jobHeader } from './launch.js';

/** Runs the header through the same `eval "set -- $line"` the launcher does, and prints each word. */
function roundTrip(argv: string[]): string[] {
  const header = jobHeader({ tarBytes: 0, cwd: '/work', mark: '#m', env: { A: "it's\nme" }, argv });
  const script = `NL='\n'; IFS= read -r line; eval "set -- $line"; for w in "$@"; do printf '%s\\0' "$w"; done`;
  const out = execFileSync('/bin/sh', ['-c', script], { input: header });
  return out.toString().split('\0').slice(0, -1);
}

describe('jobHeader', () => {
  it('survives quotes, newlines, spaces, globs and $ in words', () => {
    const argv = ['printf', "%s\n", "a'b", 'two words', '*', '$HOME', 'x\ny', '', '`id`'];
    const words = roundTrip(argv);
    expect(words.slice(0, 5)).toEqual(['0', '/work', '#m', "A=it's\nme", '/bin/sh']);
    expect(words.slice(8)).toEqual(argv);
  });

  it('is one line', () => {
    expect(jobHeader({ tarBytes: 5, cwd: '/w', mark: '#m', env: {}, argv: ['a\nb\nc'] }).trim().split('\n')).toHaveLength(1);
  });
});
