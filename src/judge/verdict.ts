import type { TestLimits } from '../config/judge.js';
import type { ExecResult } from '../sandbox/driver.js';
import { type Compare, compareOutput } from './compare.js';
import type { Language } from './languages.js';
import type { TestResult, Verdict } from './result.js';

/** What one test's exec measured, the program's own figures first (the agent's wait4), else the sandbox's. */
export function figures(r: ExecResult): { cpuMs: number | null; wallMs: number; memoryKb: number | null } {
  return {
    cpuMs: r.proc?.cpuMs ?? r.cpuMs,
    wallMs: r.proc?.wallMs ?? r.wallMs,
    memoryKb: r.proc?.maxRssKb ?? r.maxRssKb,
  };
}

type Limited = { verdict: Verdict; limit?: TestResult['limit'] };

/**
 * Which limit a run met, if any, in the order that tells the truth: a program the OOM killer ended
 * also died of SIGKILL, one over its CPU time may also have blown its wall time. Figures after the
 * fact count too: a program that stayed under the sandbox's hard backstop but over its own limit
 * still exceeded it.
 */
export function limitVerdict(r: ExecResult, limits: TestLimits, lang: Pick<Language, 'memoryOverheadMb' | 'oomMarkers'>): Limited | null {
  const f = figures(r);
  const memoryKb = (limits.memory_mb + (lang.memoryOverheadMb ?? 0)) * 1024;
  const heapError = (lang.oomMarkers ?? []).some((m) => r.stderr.includes(m));
  if (r.limit === 'memory' || heapError || (f.memoryKb !== null && f.memoryKb > memoryKb)) {
    return { verdict: 'memory_limit_exceeded', limit: 'memory' };
  }
  if (r.limit === 'cpu' || (f.cpuMs !== null && f.cpuMs > limits.cpu_time_ms)) return { verdict: 'time_limit_exceeded', limit: 'cpu' };
  if (r.limit === 'wall' || f.wallMs > limits.wall_time_ms) return { verdict: 'time_limit_exceeded', limit: 'wall' };
  if (r.limit === 'output' || r.stdoutTruncated || r.stderrTruncated) return { verdict: 'output_limit_exceeded', limit: 'output' };
  // A file past file_size_kb: SIGXFSZ, which Judge0 calls Runtime Error (SIGXFSZ); the limit says which.
  if (r.limit === 'file_size') return { verdict: 'runtime_error', limit: 'file_size' };
  return null;
}

/** Keeps at most `max` bytes of a stream for the result, cut on a character boundary. */
export function keep(text: string, max: number): { text: string; cut: boolean } {
  if (Buffer.byteLength(text) <= max) return { text, cut: false };
  let out = Buffer.from(text).subarray(0, max).toString('utf8');
  if (out.endsWith('\uFFFD')) out = out.slice(0, -1);
  return { text: out, cut: true };
}

export interface TestRun {
  name: string;
  result: ExecResult;
  expected: string | undefined;
  limits: TestLimits;
  compare: Compare;
  language: Pick<Language, 'memoryOverheadMb' | 'oomMarkers'>;
  /** What the result keeps of stdout and stderr. */
  keepBytes: number;
}

/** The verdict of one test, from what its exec did and what it printed. */
export function judgeTest(t: TestRun): TestResult {
  const r = t.result;
  const f = figures(r);
  const out = keep(r.stdout, t.keepBytes);
  const err = keep(r.stderr, t.keepBytes);
  const base = {
    name: t.name,
    cpu_ms: f.cpuMs,
    wall_ms: Math.round(f.wallMs),
    memory_kb: f.memoryKb,
    exit_code: r.exitCode,
    signal: r.signal,
    stdout: out.text,
    stderr: err.text,
    output_truncated: out.cut || err.cut,
  };
  const limited = limitVerdict(r, t.limits, t.language);
  if (limited) return { ...base, verdict: limited.verdict, ...(limited.limit ? { limit: limited.limit } : {}) };
  if (r.signal || r.exitCode !== 0) return { ...base, verdict: 'runtime_error' };
  if (t.expected === undefined) return { ...base, verdict: 'accepted' };
  const c = compareOutput(r.stdout, t.expected, t.compare);
  return c.equal ? { ...base, verdict: 'accepted' } : { ...base, verdict: 'wrong_answer', ...(c.hint ? { diff_hint: c.hint } : {}) };
}
