import { z } from 'zod';

export const VERDICTS = [
  'accepted',
  'wrong_answer',
  'time_limit_exceeded',
  'memory_limit_exceeded',
  'output_limit_exceeded',
  'runtime_error',
  'compilation_error',
  'internal_error',
  /** Not run: an earlier test failed and the submission asked to stop there. */
  'skipped',
] as const;
export type Verdict = (typeof VERDICTS)[number];

const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Ms = Count.nullable();
const Text = z.string().max(16 * 1024 * 1024);

export const TestResult = z.object({
  name: z.string().max(100),
  verdict: z.enum(VERDICTS),
  cpu_ms: Ms,
  wall_ms: Ms,
  memory_kb: Ms,
  exit_code: z.number().int().min(0).max(255).nullable(),
  signal: z.string().regex(/^SIG[A-Z0-9+-]{1,12}$/).nullable(),
  stdout: Text,
  stderr: Text,
  /** stdout or stderr was cut in this result (the verdict read up to output_bytes of it). */
  output_truncated: z.boolean(),
  /** Where the output first differs from the expected one (wrong_answer). */
  diff_hint: z.string().max(200).optional(),
  /** Which limit a *_limit_exceeded verdict met: cpu or wall for time. */
  limit: z.enum(['cpu', 'wall', 'memory', 'output', 'file_size', 'pids']).optional(),
  /** What went wrong on Paddock's side (internal_error). */
  message: z.string().max(2000).optional(),
});
export type TestResult = z.infer<typeof TestResult>;

export const CompileResult = z.object({
  exit_code: z.number().int().min(0).max(255).nullable(),
  signal: z.string().regex(/^SIG[A-Z0-9+-]{1,12}$/).nullable(),
  /** The compiler's own output, stdout then stderr (bounded). */
  output: Text,
  /** Each stream on its own (bounded); absent in results stored before they were kept. */
  stdout: Text.optional(),
  stderr: Text.optional(),
  wall_ms: Ms,
  cpu_ms: Ms,
  memory_kb: Ms,
  verdict: z.enum(['accepted', 'compilation_error', 'time_limit_exceeded', 'memory_limit_exceeded', 'output_limit_exceeded', 'internal_error']),
});
export type CompileResult = z.infer<typeof CompileResult>;

export const JudgeResult = z.object({
  verdict: z.enum(VERDICTS),
  counts: z.record(z.enum(VERDICTS), Count),
  language: z.object({ id: z.string(), name: z.string(), version: z.string().max(200) }),
  compile: CompileResult.optional(),
  tests: z.array(TestResult),
  /** The limits each test ran with (after the runner's defaults and caps). */
  limits: z.record(z.string(), z.number()),
});
export type JudgeResult = z.infer<typeof JudgeResult>;

/** Overall: the first test that is not accepted decides (skipped ones do not); all accepted is accepted. Every verdict is counted, 0 included. */
export function overall(tests: readonly { verdict: Verdict }[]): { verdict: Verdict; counts: Record<Verdict, number> } {
  const counts = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
  for (const t of tests) counts[t.verdict]++;
  const first = tests.find((t) => t.verdict !== 'accepted' && t.verdict !== 'skipped');
  return { verdict: first?.verdict ?? 'accepted', counts };
}
