/**
 * How a test's output is held against its expected output.
 * - `exact`: byte for byte.
 * - `trim`: trailing whitespace of each line and trailing blank lines ignored (Judge0's rule).
 * - `tokens`: the same whitespace-separated tokens.
 * - `float:EPS`: tokens, with numbers equal within EPS (absolute or relative); others must match exactly.
 */
export type Compare = 'exact' | 'trim' | 'tokens' | `float:${string}`;

export const COMPARE_RE = /^(?:exact|trim|tokens|float:(?:\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))$/;

const HINT_MAX = 120;

export interface Comparison {
  equal: boolean;
  /** Where the two first differ, short and printable (never the whole output). */
  hint?: string;
}

const trimLines = (s: string) =>
  s
    .split('\n')
    .map((l) => l.replace(/[ \t\r]+$/, ''))
    .join('\n')
    .replace(/\n+$/, '');

const tokens = (s: string) => s.split(/\s+/).filter(Boolean);

/** Printable and short: control characters shown as escapes, cut at `max`. */
export function shown(s: string, max = 40): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return JSON.stringify(cut);
}

function lineHint(actual: string, expected: string): string {
  if (`${actual}\n` === expected) return 'the newline at the end of the output is missing';
  if (actual === `${expected}\n`) return 'an extra newline at the end of the output';
  const a = actual.split('\n');
  const e = expected.split('\n');
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] !== e[i]) {
      if (a[i] === undefined) return `line ${i + 1}: expected ${shown(e[i]!)}, got end of output`;
      if (e[i] === undefined) return `line ${i + 1}: expected end of output, got ${shown(a[i]!)}`;
      return `line ${i + 1}: expected ${shown(e[i]!)}, got ${shown(a[i]!)}`;
    }
  }
  return 'the outputs differ';
}

function tokenHint(a: string[], e: string[], i: number): string {
  if (a[i] === undefined) return `token ${i + 1}: expected ${shown(e[i]!)}, got end of output`;
  if (e[i] === undefined) return `token ${i + 1}: expected end of output, got ${shown(a[i]!)}`;
  return `token ${i + 1}: expected ${shown(e[i]!)}, got ${shown(a[i]!)}`;
}

const NUMBER_RE = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

function floatsEqual(a: string, e: string, eps: number): boolean {
  if (a === e) return true;
  if (!NUMBER_RE.test(a) || !NUMBER_RE.test(e)) return false;
  const x = Number(a);
  const y = Number(e);
  const diff = Math.abs(x - y);
  return diff <= eps || diff <= eps * Math.max(Math.abs(x), Math.abs(y));
}

export function compareOutput(actual: string, expected: string, mode: Compare): Comparison {
  const limitHint = (c: Comparison): Comparison => (c.hint && c.hint.length > HINT_MAX ? { ...c, hint: `${c.hint.slice(0, HINT_MAX)}…` } : c);
  if (mode === 'exact') return limitHint(actual === expected ? { equal: true } : { equal: false, hint: lineHint(actual, expected) });
  if (mode === 'trim') {
    const [a, e] = [trimLines(actual), trimLines(expected)];
    return limitHint(a === e ? { equal: true } : { equal: false, hint: lineHint(a, e) });
  }
  const a = tokens(actual);
  const e = tokens(expected);
  const eps = mode === 'tokens' ? null : Number(mode.slice('float:'.length));
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    const same = a[i] !== undefined && e[i] !== undefined && (eps === null ? a[i] === e[i] : floatsEqual(a[i]!, e[i]!, eps));
    if (!same) return limitHint({ equal: false, hint: tokenHint(a, e, i) });
  }
  return { equal: true };
}
