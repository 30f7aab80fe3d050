import { z } from 'zod';
import { jobFields } from '../jobs/spec-fields.js';
import { FULL_REPO_RE, LABEL_RE, POOL_RE } from './grammar.js';

const GithubId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/**
 * One workflow job in one pool: the run of an ephemeral runner for it. Made by the intake
 * (webhook or polling), never by a client: `POST /v1/jobs` refuses the kind.
 */
export const ActionsJobSpec = z.strictObject({
  kind: z.literal('actions'),
  pool: z.string().regex(POOL_RE),
  github_job: z.strictObject({
    id: GithubId,
    run_id: GithubId,
    repo: z.string().regex(FULL_REPO_RE),
    labels: z.array(z.string().regex(LABEL_RE)).max(100),
    /** When the job reached Paddock (epoch ms), for the startup figure. */
    received_ms: z.number().int().min(0).optional(),
  }),
  ...jobFields,
});
export type ActionsJobSpec = z.infer<typeof ActionsJobSpec>;

/** What an actions job records: its runner on GitHub and how the runner process ended. */
export const ActionsResult = z.object({
  github_job_id: GithubId,
  runner_name: z.string(),
  runner_id: GithubId,
  exit_code: z.number().int().min(0).max(255).nullable(),
  signal: z.string().regex(/^SIG[A-Z0-9+-]{1,12}$/).nullable(),
  timed_out: z.boolean(),
  wall_ms: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});
export type ActionsResult = z.infer<typeof ActionsResult>;
