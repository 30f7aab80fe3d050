import { describe, expect, it } from 'vitest';
import { COMPARE_RE, compareOutput } from './compare.js';

describe('compareOutput', () => {
  it('exact: byte for byte, with the first differing line as the hint', () => {
    expect(compareOutput('5\n', '5\n', 'exact')).toEqual({ equal: true });
    expect(compareOutput('5', '5\n', 'exact')).toEqual({ equal: false, hint: 'the newline at the end of the output is missing' });
    expect(compareOutput('5\n\n', '5\n', 'exact').hint).toBe('an extra newline at the end of the output');
    expect(compareOutput('1\n', '1\n2\n', 'exact').hint).toBe('line 2: expected "2", got ""');
    expect(compareOutput('1\n2\n', '1\n3\n', 'exact')).toEqual({ equal: false, hint: 'line 2: expected "3", got "2"' });
  });

  it('trim: trailing spaces, CRs and blank lines do not count; leading ones do', () => {
    expect(compareOutput('5  \r\n\n\n', '5\n', 'trim')).toEqual({ equal: true });
    expect(compareOutput(' 5\n', '5\n', 'trim').equal).toBe(false);
    expect(compareOutput('', '5\n', 'trim')).toEqual({ equal: false, hint: 'line 1: expected "5", got ""' });
  });

  it('tokens: any whitespace between the same tokens', () => {
    expect(compareOutput('1   2\n3', '1 2 3\n', 'tokens')).toEqual({ equal: true });
    expect(compareOutput('1 2', '1 2 3', 'tokens')).toEqual({ equal: false, hint: 'token 3: expected "3", got end of output' });
    expect(compareOutput('1 2 3 4', '1 2 3', 'tokens').hint).toBe('token 4: expected end of output, got "4"');
  });

  it('float:EPS: numbers within EPS (absolute or relative), other tokens exact', () => {
    expect(compareOutput('0.3333333', '0.333333333', 'float:1e-6').equal).toBe(true);
    expect(compareOutput('0.334', '0.333', 'float:1e-6')).toEqual({ equal: false, hint: 'token 1: expected "0.333", got "0.334"' });
    expect(compareOutput('1000000.5', '1000000.0', 'float:1e-6').equal).toBe(true);
    expect(compareOutput('yes 1.0', 'yes 1', 'float:0.001').equal).toBe(true);
    expect(compareOutput('no 1.0', 'yes 1', 'float:0.001').equal).toBe(false);
    expect(compareOutput('nan', 'nan', 'float:0.1').equal).toBe(true);
    expect(compareOutput('inf', '1', 'float:1e9').equal).toBe(false);
  });

  it('hints stay short and printable whatever the program printed', () => {
    const hint = compareOutput(`\u001b[2J${'x'.repeat(10_000)}`, 'y', 'exact').hint!;
    expect(hint.length).toBeLessThanOrEqual(121);
    expect(hint).not.toContain('\u001b');
    expect(hint).toContain('\\u001b');
  });

  it('the grammar of compare modes', () => {
    for (const ok of ['exact', 'trim', 'tokens', 'float:1e-6', 'float:0.001', 'float:1']) expect(COMPARE_RE.test(ok), ok).toBe(true);
    for (const bad of ['float:', 'float:-1', 'float:abc', 'regex', 'Float:1', 'float:1;rm']) expect(COMPARE_RE.test(bad), bad).toBe(false);
  });
});
