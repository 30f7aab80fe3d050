import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { jobHeader, launcher } from './launch.js';

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
    expect(words).toEqual(['0', '#m', '/work', "A=it's\nme", ...argv]);
  });

  it('runs an argv[0] that env would take for a variable or an option through sh', () => {
    for (const first of ['A=b', '-u']) expect(roundTrip([first, 'x']).slice(4)).toEqual(['/bin/sh', '-c', 'exec "$@"', 'sh', first, 'x']);
  });

  it('is one line', () => {
    expect(jobHeader({ tarBytes: 5, cwd: '/w', mark: '#m', env: {}, argv: ['a\nb\nc'] }).trim().split('\n')).toHaveLength(1);
  });
});

describe('launcher', () => {
  it('keeps the mark out of argv and env: only the dropping launcher prints it, after setpriv', () => {
    const dropping = launcher('dropping', 200_001);
    expect(dropping).toContain('setpriv --reuid=200001 --regid=200001 --clear-groups --inh-caps=-all --bounding-set=-all -- env -i');
    expect(dropping).not.toMatch(/export|mark=.*env/);
    const plain = launcher('plain', 200_001);
    expect(plain).not.toContain('mark');
    expect(plain).toContain('exec env -i "$@"');
  });

  it('refuses a uid that is not a positive integer (never root)', () => {
    for (const uid of [0, -1, 1.5, NaN]) expect(() => launcher('dropping', uid)).toThrow(/bad container uid/);
  });
});
