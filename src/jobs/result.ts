import { z } from 'zod';

/**
 * What a command job's result may hold. Checked before it is stored (see
 * transition.ts), so no read endpoint can trip over a value a job made up —
 * an exit code of 1e20 once made every list page holding it answer 500.
 */
export const CommandResult = z.object({
  exit_code: z.number().int().min(0).max(255).nullable(),
  signal: z.string().regex(/^SIG[A-Z0-9+-]{1,12}$/).nullable(),
  // Output is stored once, as the job's output events; a stored result may leave it out.
  stdout: z.string().optional(),
  stderr: z.string().optional(),
  stdout_truncated: z.boolean(),
  stderr_truncated: z.boolean(),
  timed_out: z.boolean(),
  wall_ms: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  cpu_ms: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable(),
  max_rss_kb: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable(),
  limit: z.enum(['cpu', 'memory', 'output']).optional(),
});
export type CommandResult = z.infer<typeof CommandResult>;

/** An exit status a process can really have; anything else is not stored. */
export const ExitCode = z.number().int().min(0).max(255).nullable();
