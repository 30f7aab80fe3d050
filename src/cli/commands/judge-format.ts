import type { JudgeResult } from '../../judge/result.js';
import { clean } from './job-summary.js';

const ms = (v: number | null) => (v == null ? '-' : `${v} ms`);
const kb = (v: number | null) => (v == null ? '-' : v < 10 * 1024 ? `${v} KiB` : `${(v / 1024).toFixed(1)} MiB`);

/** A judge result as a person reads it: the verdict and counts, the compile step, one row per test. */
export function judgeLines(r: JudgeResult): string[] {
  const counts = Object.entries(r.counts)
    .filter(([, n]) => n > 0)
    .map(([v, n]) => `${n} ${v}`)
    .join(', ');
  const lines = [`verdict: ${r.verdict}${counts ? ` (${counts})` : ''} · ${clean(r.language.name)}${r.language.version ? ` ${clean(r.language.version)}` : ''}`];
  if (r.compile) {
    lines.push(`compile: ${r.compile.verdict} · exit ${r.compile.exit_code ?? r.compile.signal ?? '-'} · ${ms(r.compile.wall_ms)}`);
    if (r.compile.verdict !== 'accepted' && r.compile.output) lines.push(...clean(r.compile.output).split('\n').slice(0, 20).map((l) => `  ${l}`));
  }
  if (r.tests.length) {
    const rows = [['TEST', 'VERDICT', 'CPU', 'WALL', 'MEMORY', 'EXIT', 'NOTE']];
    for (const t of r.tests) {
      const exit = t.signal ?? (t.exit_code == null ? '-' : String(t.exit_code));
      const note = t.diff_hint ?? t.message ?? (t.limit ? `${t.limit} limit` : '');
      rows.push([clean(t.name), t.verdict, ms(t.cpu_ms), ms(t.wall_ms), kb(t.memory_kb), exit, clean(note)]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) lines.push(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
  }
  return lines;
}
