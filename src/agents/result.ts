import { z } from 'zod';
import { ExitCode } from '../jobs/result.js';

const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Ms = Count.nullable();
const Short = (max: number) => z.string().max(max);

/** Model use as the proxy counted it: the job's own figures, which nothing in the sandbox can change. */
export const Usage = z.object({
  requests: Count,
  input_tokens: Count,
  output_tokens: Count,
  cache_creation_input_tokens: Count,
  cache_read_input_tokens: Count,
  cost_usd: z.number().min(0).max(1e9),
});

/**
 * What an agent job's result may hold; checked before it is stored. `total_cost_usd` and `usage`
 * are the proxy's; `cli` is what the CLI itself claimed at its end (the sandbox could forge it).
 */
export const AgentResult = z.object({
  exit_code: ExitCode,
  signal: z.string().regex(/^SIG[A-Z0-9+-]{1,12}$/).nullable(),
  wall_ms: Count,
  cpu_ms: Ms,
  max_rss_kb: Ms,
  limit: z.enum(['cpu', 'memory', 'output']).optional(),
  subtype: Short(100).nullable(),
  is_error: z.boolean(),
  num_turns: Count.nullable(),
  duration_ms: Ms,
  total_cost_usd: z.number().min(0).max(1e9),
  usage: Usage,
  permission_denials: z.array(z.object({ tool_name: Short(200), tool_use_id: Short(200).nullable() })).max(100),
  cli: z.object({ total_cost_usd: z.number().min(0).max(1e9).nullable() }),
  repo_url: Short(2048).nullable(),
  base_commit: Short(64).nullable(),
  diff: z.object({ bytes: Count, files: Count, truncated: z.boolean() }).nullable(),
  branch: Short(255).optional(),
  commit: Short(64).optional(),
  pull_request_url: Short(2048).optional(),
  comment_url: Short(2048).optional(),
});
export type AgentResult = z.infer<typeof AgentResult>;
