import { constants } from 'node:os';
import { z } from 'zod';
import { PaddockError } from '../../../errors.js';
import { type CompileResult, type JudgeResult, type TestResult, VERDICTS } from '../../../judge/result.js';

/**
 * One stage's answer as Piston gives it: `stdout`, `stderr`, `output`, `code` (null when signalled),
 * `signal`, and the fields of isolate-based Piston (`status` TO/OL/SG/RE/XX, `message`, `memory` in
 * bytes, `cpu_time` and `wall_time` in ms); `verdict` is Paddock's own (Piston has no memory-limit status).
 */
export const PistonStage = z.object({
  stdout: z.string(),
  stderr: z.string(),
  output: z.string().describe('stdout, then stderr (Paddock keeps the two streams apart, so they are not interleaved)'),
  code: z.number().int().nullable(),
  signal: z.string().nullable(),
  status: z.enum(['TO', 'OL', 'SG', 'RE', 'XX']).nullable(),
  message: z.string().nullable(),
  memory: z.number().int().nullable(),
  cpu_time: z.number().int().nullable(),
  wall_time: z.number().int().nullable(),
  verdict: z.enum(VERDICTS),
});
export type PistonStage = z.infer<typeof PistonStage>;

export const PistonResult = z.object({
  language: z.string(),
  version: z.string(),
  run: PistonStage,
  compile: PistonStage.optional(),
  job_id: z.string().describe("the judge job behind this answer (GET /v1/jobs/:id); not Piston's"),
});
export type PistonResult = z.infer<typeof PistonResult>;

const signalNumber = (name: string) => constants.signals[name as keyof typeof constants.signals] ?? 0;

interface Ran {
  verdict: TestResult['verdict'];
  exit_code: number | null;
  signal: string | null;
  limit?: TestResult['limit'];
  message?: string;
}

/** isolate's status and message for what Paddock saw; time and output limits end with SIGKILL, as Piston reports them. */
function statusOf(r: Ran): Pick<PistonStage, 'status' | 'message' | 'signal'> {
  switch (r.verdict) {
    case 'accepted':
    case 'wrong_answer':
    case 'skipped':
      return { status: null, message: null, signal: r.signal };
    case 'time_limit_exceeded':
      return { status: 'TO', message: r.limit === 'wall' ? 'Time limit exceeded (wall clock)' : 'Time limit exceeded', signal: 'SIGKILL' };
    case 'output_limit_exceeded':
      return { status: 'OL', message: 'Output limit exceeded', signal: 'SIGKILL' };
    case 'memory_limit_exceeded':
      return { status: 'SG', message: 'Memory limit exceeded', signal: r.signal ?? 'SIGKILL' };
    case 'internal_error':
      return { status: 'XX', message: r.message ?? 'internal error', signal: r.signal };
    case 'runtime_error':
    case 'compilation_error':
      return r.signal
        ? { status: 'SG', message: `Caught fatal signal ${signalNumber(r.signal)}`, signal: r.signal }
        : { status: 'RE', message: `Exited with error status ${r.exit_code ?? 0}`, signal: null };
  }
}

function runStage(t: TestResult): PistonStage {
  const s = statusOf(t);
  return {
    stdout: t.stdout,
    stderr: t.stderr,
    output: t.stdout + t.stderr,
    code: s.signal ? null : t.exit_code,
    ...s,
    memory: t.memory_kb === null ? null : t.memory_kb * 1024,
    cpu_time: t.cpu_ms,
    wall_time: t.wall_ms,
    verdict: t.verdict,
  };
}

/** The compiler's streams; a result stored before they were kept apart has only `output`, given as stderr (where compilers write). */
function compileStage(c: CompileResult): PistonStage {
  const s = statusOf(c);
  return {
    stdout: c.stdout ?? '',
    stderr: c.stderr ?? c.output,
    output: c.output,
    code: s.signal ? null : c.exit_code,
    ...s,
    memory: c.memory_kb === null ? null : c.memory_kb * 1024,
    cpu_time: c.cpu_ms,
    wall_time: c.wall_ms,
    verdict: c.verdict,
  };
}

/**
 * A judge result of one test as Piston's execute answer. When the program did not compile, `run` is
 * the compile stage, as Piston answers. Where Paddock failed (not the program), a 500 as in Piston.
 */
export function pistonResult(r: JudgeResult, meta: { language: string; version: string; jobId: string }): PistonResult {
  const compile = r.compile ? compileStage(r.compile) : undefined;
  if (r.compile?.verdict === 'internal_error') throw new PaddockError('internal', `compiling failed on the runner's side (job ${meta.jobId})`);
  const test = r.tests[0];
  let run: PistonStage;
  if (compile && r.compile!.verdict !== 'accepted') run = compile;
  else if (!test || test.verdict === 'skipped') throw new PaddockError('internal', `the program was not run (job ${meta.jobId})`);
  else if (test.verdict === 'internal_error') throw new PaddockError('internal', `running failed on the runner's side (job ${meta.jobId}): ${test.message ?? ''}`.trim());
  else run = runStage(test);
  return { language: meta.language, version: meta.version, run, ...(compile ? { compile } : {}), job_id: meta.jobId };
}
