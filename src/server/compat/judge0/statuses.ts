import { constants } from 'node:os';
import { compareOutput } from '../../../judge/compare.js';
import type { JudgeResult, TestResult } from '../../../judge/result.js';

/** Judge0 CE's statuses (app/enumerations/status.rb), ids 1–14. */
export const STATUSES = [
  { id: 1, description: 'In Queue' },
  { id: 2, description: 'Processing' },
  { id: 3, description: 'Accepted' },
  { id: 4, description: 'Wrong Answer' },
  { id: 5, description: 'Time Limit Exceeded' },
  { id: 6, description: 'Compilation Error' },
  { id: 7, description: 'Runtime Error (SIGSEGV)' },
  { id: 8, description: 'Runtime Error (SIGXFSZ)' },
  { id: 9, description: 'Runtime Error (SIGFPE)' },
  { id: 10, description: 'Runtime Error (SIGABRT)' },
  { id: 11, description: 'Runtime Error (NZEC)' },
  { id: 12, description: 'Runtime Error (Other)' },
  { id: 13, description: 'Internal Error' },
  { id: 14, description: 'Exec Format Error' },
] as const;

export const statusById = (id: number) => STATUSES[id - 1]!;

/** What a submission shows beside its status, as Judge0 fills it in after a run. */
export interface Outcome {
  status: number;
  message: string | null;
  stdout: string | null;
  stderr: string | null;
  compile_output: string | null;
  /** Seconds (CPU, averaged over the runs; wall of the last run). */
  time: number | null;
  wall_time: number | null;
  /** KB, averaged over the runs. */
  memory: number | null;
  exit_code: number | null;
  exit_signal: number | null;
}

const EMPTY: Omit<Outcome, 'status'> = {
  message: null,
  stdout: null,
  stderr: null,
  compile_output: null,
  time: null,
  wall_time: null,
  memory: null,
  exit_code: null,
  exit_signal: null,
};

const signalNumber = (name: string | null): number | null =>
  name ? ((constants.signals as Record<string, number | undefined>)[name] ?? null) : null;

/** Judge0's `find_runtime_error_by_status_code`: SIGSEGV 7, SIGXFSZ 8, SIGFPE 9, SIGABRT 10, any other signal 12. */
const BY_SIGNAL: Record<string, number> = { SIGSEGV: 7, SIGXFSZ: 8, SIGFPE: 9, SIGABRT: 10 };

/** A test's verdict as a Judge0 status and isolate's message. Judge0 has no MLE: it is 12 with "Memory limit exceeded". */
export function statusOfTest(t: TestResult): { status: number; message: string | null } {
  switch (t.verdict) {
    case 'accepted':
      return { status: 3, message: null };
    case 'wrong_answer':
      return { status: 4, message: null };
    case 'time_limit_exceeded':
      return { status: 5, message: t.limit === 'wall' ? 'Time limit exceeded (wall clock)' : 'Time limit exceeded' };
    case 'memory_limit_exceeded':
      return { status: 12, message: 'Memory limit exceeded' };
    // Judge0 writes stdout to a file bounded by max_file_size: printing too much is SIGXFSZ there.
    case 'output_limit_exceeded':
      return { status: 8, message: 'Output limit exceeded' };
    case 'runtime_error': {
      if (t.limit === 'file_size') return { status: 8, message: 'File size limit exceeded' };
      if (t.signal) return { status: BY_SIGNAL[t.signal] ?? 12, message: `Caught fatal signal ${signalNumber(t.signal) ?? t.signal}` };
      return { status: 11, message: `Exited with error status ${t.exit_code ?? 'unknown'}` };
    }
    case 'internal_error':
      return { status: 13, message: t.message ?? 'internal error' };
    case 'compilation_error':
      return { status: 6, message: null };
    case 'skipped':
      return { status: 13, message: 'not run' };
  }
}

const orNull = (s: string) => (s === '' ? null : s);
const average = (xs: (number | null)[]) => {
  const known = xs.filter((x): x is number => x !== null);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0) / known.length;
};

export interface OutcomeInput {
  state: string;
  result: JudgeResult | null;
  /** Why a job with no result ended (its error's message, or its reason). */
  why: string | null;
  /** The Judge0 request's own expected_output and redirect flag. */
  expected: string | undefined;
  redirect: boolean;
}

/**
 * A judge job as Judge0 reports a submission: 1 while queued, 2 while running, then from the
 * result. With number_of_runs > 1 the runs are the job's tests (stopped at the first failure):
 * time and memory are their average and the rest is the last run's, as Judge0 does.
 */
export function outcomeOf(x: OutcomeInput): Outcome {
  if (x.state === 'queued') return { ...EMPTY, status: 1 };
  if (x.state === 'running') return { ...EMPTY, status: 2 };
  const r = x.result;
  if (!r) return { ...EMPTY, status: 13, message: x.why ?? 'the submission could not be judged' };
  const compile_output = r.compile ? orNull(r.compile.output) : null;
  if (r.compile && r.compile.verdict !== 'accepted') {
    if (r.compile.verdict === 'internal_error') return { ...EMPTY, status: 13, compile_output, message: 'the compiler could not be run' };
    const timedOut = r.compile.verdict === 'time_limit_exceeded';
    return { ...EMPTY, status: 6, compile_output: timedOut ? 'Compilation time limit exceeded.' : compile_output };
  }
  const runs = r.tests.filter((t) => t.verdict !== 'skipped');
  const last = runs.at(-1);
  if (!last) return { ...EMPTY, status: 13, compile_output, message: x.why ?? 'the submission was not run' };
  const { message, ...first } = statusOfTest(last);
  let status = first.status;
  let stdout = last.stdout;
  let stderr: string | null = orNull(last.stderr);
  if (x.redirect) {
    // Paddock keeps the streams apart: stderr follows stdout here, not interleaved as written.
    stdout = last.stdout + last.stderr;
    stderr = null;
    if ((status === 3 || status === 4) && x.expected !== undefined) status = compareOutput(stdout, x.expected, 'trim').equal ? 3 : 4;
  }
  const time = average(runs.map((t) => t.cpu_ms));
  const memory = average(runs.map((t) => t.memory_kb));
  const signal = signalNumber(last.signal);
  return {
    status,
    message,
    stdout: orNull(stdout),
    stderr,
    compile_output,
    time: time === null ? null : time / 1000,
    wall_time: last.wall_ms === null ? null : last.wall_ms / 1000,
    memory: memory === null ? null : Math.trunc(memory),
    // isolate writes no exit code for a signalled program, and Judge0 reads that as 0.
    exit_code: last.signal ? 0 : (last.exit_code ?? 0),
    exit_signal: signal,
  };
}
